//! Checks of the ports area: leaked docker-proxy processes ([`leaked_proxy`]), listeners whose
//! owners cannot accept ([`stuck`]), and stopped containers whose published port another process
//! now holds ([`conflict`]). See docs/checks/ports.md; the verdicts are in
//! [`crate::policy::ports`].

pub mod conflict;
pub mod leaked_proxy;
pub mod stuck;

use std::net::IpAddr;

use super::{Probe, probe};

pub fn probes() -> Vec<Probe> {
    vec![
        probe!("ports.leaked-proxy", leaked_proxy::check),
        probe!("ports.stuck", stuck::check),
        probe!("ports.conflict", conflict::check),
    ]
}

/// How many objects evidence lists before it only counts.
const CAP: usize = 20;

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// An address as it goes before `:port` (`[::1]` for IPv6).
fn fmt_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}
