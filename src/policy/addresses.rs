//! Addresses as the port policies compare them: whether an address lies in a network's subnet
//! (which docker-proxy's container address is this daemon's), and whether binding one address
//! fails because another is held on the same port. Pure arithmetic on plain addresses.

use std::net::IpAddr;

/// Whether `ip` lies in `cidr` (`172.18.0.0/16`, `fd00::/64`). A malformed CIDR contains nothing.
pub fn in_subnet(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Whether binding `bind` (a published port's host IP; `None` = all addresses) on a port fails
/// because something listens on `held` on that port. A wildcard on either side overlaps every
/// address of its family; `::` is taken as dual-stack (Linux's default), so it overlaps IPv4 too.
pub fn bind_conflicts(bind: Option<IpAddr>, held: IpAddr) -> bool {
    let Some(bind) = bind else { return true };
    if bind == held {
        return true;
    }
    let dual_stack_any = |ip: IpAddr| matches!(ip, IpAddr::V6(v) if v.is_unspecified());
    if dual_stack_any(held) || dual_stack_any(bind) {
        return true;
    }
    // 0.0.0.0 overlaps every IPv4 address.
    bind.is_ipv4() == held.is_ipv4() && (bind.is_unspecified() || held.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            ("172.31.255.254", "172.31.255.0/24", true),
            ("172.31.254.1", "172.31.255.0/24", false),
            ("10.1.2.3", "0.0.0.0/0", true),
            ("10.1.2.3", "10.1.2.3/32", true),
            ("fd00::5", "fd00::/64", true),
            ("fd01::5", "fd00::/64", false),
            ("10.1.2.3", "fd00::/64", false),
            ("10.1.2.3", "garbage", false),
            ("10.1.2.3", "10.0.0.0/99", false),
        ];
        for (a, cidr, want) in cases {
            assert_eq!(in_subnet(ip(a), cidr), want, "{a} in {cidr}");
        }
    }

    #[test]
    fn binding_overlaps() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let cases = [
            (None, "127.0.0.1", true),
            (Some("127.0.0.1"), "127.0.0.1", true),
            (Some("127.0.0.1"), "0.0.0.0", true),
            (Some("0.0.0.0"), "127.0.0.1", true),
            (Some("127.0.0.1"), "127.0.0.2", false),
            (Some("127.0.0.1"), "::", true),
            (Some("127.0.0.1"), "::1", false),
            (Some("::1"), "0.0.0.0", false),
            (Some("::"), "10.0.0.1", true),
        ];
        for (bind, held, want) in cases {
            assert_eq!(
                bind_conflicts(bind.map(ip), ip(held)),
                want,
                "{bind:?} vs {held}"
            );
        }
    }
}
