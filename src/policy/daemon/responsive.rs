//! Does the daemon answer, and how well: the ping, the container list and `/info`, judged
//! together. doctor's `daemon.responsive` words the verdict; `recover` decides from it whether
//! (and how hard) to act, and `pull` whether a daemon is fit to be asked for a pull.

use std::time::Duration;

use crate::runtime::engine::EngineError;

/// How one probe (a tier) ended, as the verdict needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Answered (with any 2xx) after this long.
    Answered(Duration),
    /// Accepted the connection, then no answer within the deadline.
    Silent { waited: Duration },
    /// No socket, connection refused, or no TCP connection within the deadline.
    Unreachable,
    /// This user may not open the socket.
    Denied,
    /// An error status, an unreadable answer, or a broken connection.
    Failed,
}

impl Outcome {
    /// The outcome of an engine call: its latency, or its error.
    pub fn of(r: Result<Duration, &EngineError>) -> Outcome {
        match r {
            Ok(d) => Outcome::Answered(d),
            Err(EngineError::Frozen { waited, .. }) => Outcome::Silent { waited: *waited },
            Err(EngineError::Stopped { .. }) => Outcome::Silent {
                waited: Duration::ZERO,
            },
            Err(
                EngineError::NoSocket { .. }
                | EngineError::Refused { .. }
                | EngineError::ConnectTimeout { .. },
            ) => Outcome::Unreachable,
            Err(EngineError::PermissionDenied { .. }) => Outcome::Denied,
            Err(
                EngineError::Api { .. } | EngineError::Protocol { .. } | EngineError::Io { .. },
            ) => Outcome::Failed,
        }
    }

    pub fn latency(self) -> Option<Duration> {
        match self {
            Outcome::Answered(d) => Some(d),
            _ => None,
        }
    }
}

/// The three tiers, as probed: the ping always; the list and `/info` only once the ping
/// answered (`None`: not asked).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiers {
    pub ping: Outcome,
    pub list: Option<Outcome>,
    pub info: Option<Outcome>,
    /// How many containers the list returned (0 when it did not answer).
    pub containers: usize,
}

/// What "slow" means.
///
/// The ping takes no locks and `/info` reads counters, so each is judged against `slow_ms`
/// alone. The list's work grows with the host: every container is locked, copied and
/// serialised (10,000 containers take 1.7–2.4 s on a healthy 2-core host while the ping stays
/// at 1 ms), so it gets `slow_ms` plus `list_ms_per_container` for each container it returned.
/// A big host is not a sick one; a small host whose list takes as long is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub slow_ms: f64,
    pub list_ms_per_container: f64,
}

impl Limits {
    /// The latency at or above which the ping (and `/info`) is slow.
    pub fn ping_ms(&self) -> f64 {
        self.slow_ms
    }

    pub fn info_ms(&self) -> f64 {
        self.slow_ms
    }

    /// The latency at or above which a list of `containers` containers is slow.
    pub fn list_ms(&self, containers: usize) -> f64 {
        self.slow_ms + self.list_ms_per_container.max(0.0) * containers as f64
    }
}

/// Which tier a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierName {
    Ping,
    List,
    Info,
}

impl TierName {
    /// The name used in evidence (`probes[].name`).
    pub fn as_str(self) -> &'static str {
        match self {
            TierName::Ping => "ping",
            TierName::List => "containers",
            TierName::Info => "info",
        }
    }
}

/// The verdict. `name()` gives the classification word of the evidence.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Every tier answered within its limit.
    Healthy,
    /// Every tier that was asked answered, some at or above their limits (named, in tier order).
    Slow { tiers: Vec<TierName> },
    /// Nothing accepts connections.
    Down,
    /// The connection is accepted but the ping gets no answer: a stopped or stuck process.
    Frozen { waited: Duration },
    /// The ping answers, but the list and/or `/info` did not within the deadline (a held
    /// container lock, moby#12606; a storage driver stuck in the kernel).
    Wedged {
        list: bool,
        info: bool,
        waited: Duration,
    },
    /// This user may not open the socket: nothing can be said.
    Permission,
    /// A tier answered with an error (status, unreadable answer, broken connection).
    Error { tier: TierName },
}

impl Health {
    /// `healthy`, `slow`, `down`, `frozen`, `wedged`, `permission`, `error`.
    pub fn name(&self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Slow { .. } => "slow",
            Health::Down => "down",
            Health::Frozen { .. } => "frozen",
            Health::Wedged { .. } => "wedged",
            Health::Permission => "permission",
            Health::Error { .. } => "error",
        }
    }

    /// The daemon is hung: it accepts connections but does not answer, or answers the ping
    /// but not the calls that take its locks. What `recover` escalates on (stack dump, restart).
    pub fn is_hung(&self) -> bool {
        matches!(self, Health::Frozen { .. } | Health::Wedged { .. })
    }

    #[cfg(test)]
    /// Nothing serves the socket: the daemon needs starting, not stopping.
    pub fn is_down(&self) -> bool {
        matches!(self, Health::Down)
    }

    /// The daemon can serve work (a pull, a container start) now, if slowly.
    pub fn serves(&self) -> bool {
        matches!(self, Health::Healthy | Health::Slow { .. })
    }
}

/// Judges the tiers. The ping decides reachability (down, frozen, permission); then a tier that
/// stayed silent makes the daemon wedged, one that failed an error; then latencies against
/// [`Limits`].
pub fn classify(t: &Tiers, limits: &Limits) -> Health {
    let ping = match t.ping {
        Outcome::Answered(d) => d,
        Outcome::Unreachable => return Health::Down,
        Outcome::Denied => return Health::Permission,
        Outcome::Silent { waited } => return Health::Frozen { waited },
        Outcome::Failed => {
            return Health::Error {
                tier: TierName::Ping,
            };
        }
    };
    let silent = |o: Option<Outcome>| match o {
        Some(Outcome::Silent { waited }) => Some(waited),
        _ => None,
    };
    let (list_silent, info_silent) = (silent(t.list), silent(t.info));
    if list_silent.is_some() || info_silent.is_some() {
        return Health::Wedged {
            list: list_silent.is_some(),
            info: info_silent.is_some(),
            waited: list_silent.max(info_silent).unwrap_or_default(),
        };
    }
    // Past the ping, any other failure is an error of that tier (the list first: it matters more).
    for (tier, o) in [(TierName::List, t.list), (TierName::Info, t.info)] {
        if matches!(
            o,
            Some(Outcome::Failed | Outcome::Unreachable | Outcome::Denied)
        ) {
            return Health::Error { tier };
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut slow = Vec::new();
    if ms(ping) >= limits.ping_ms() {
        slow.push(TierName::Ping);
    }
    if let Some(d) = t.list.and_then(Outcome::latency)
        && ms(d) >= limits.list_ms(t.containers)
    {
        slow.push(TierName::List);
    }
    if let Some(d) = t.info.and_then(Outcome::latency)
        && ms(d) >= limits.info_ms()
    {
        slow.push(TierName::Info);
    }
    if slow.is_empty() {
        Health::Healthy
    } else {
        Health::Slow { tiers: slow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn ok(n: u64) -> Option<Outcome> {
        Some(Outcome::Answered(ms(n)))
    }

    const LIMITS: Limits = Limits {
        slow_ms: 1000.0,
        list_ms_per_container: 0.25,
    };

    #[test]
    fn cases() {
        use Health::*;
        use TierName::*;
        let silent = |n: u64| Some(Outcome::Silent { waited: ms(n) });
        // (ping, list, info, containers) → verdict
        type Case = (Outcome, Option<Outcome>, Option<Outcome>, usize, Health);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (Outcome::Answered(ms(1)), ok(3), ok(8), 12, Healthy),
            // A big host is not a sick one: 10,000 containers listed in 1.8 s.
            (Outcome::Answered(ms(1)), ok(1800), ok(40), 10_000, Healthy),
            (Outcome::Answered(ms(1)), ok(2400), ok(40), 10_000, Healthy),
            // … but a small host that takes as long is slow.
            (Outcome::Answered(ms(1)), ok(1500), ok(8), 10, Slow { tiers: vec![List] }),
            (Outcome::Answered(ms(1)), ok(1800), ok(8), 0, Slow { tiers: vec![List] }),
            // The ping takes no locks: 1.2 s is slow whatever the host's size.
            (Outcome::Answered(ms(1200)), ok(1300), ok(8), 10_000, Slow { tiers: vec![Ping] }),
            (Outcome::Answered(ms(1200)), ok(1300), ok(1100), 10, Slow { tiers: vec![Ping, List, Info] }),
            (Outcome::Answered(ms(3)), ok(3), ok(1000), 1, Slow { tiers: vec![Info] }),
            // Limits are inclusive.
            (Outcome::Answered(ms(1000)), ok(3), ok(3), 1, Slow { tiers: vec![Ping] }),
            (Outcome::Answered(ms(999)), ok(3), ok(3), 1, Healthy),
            // The ping decides reachability; nothing else was asked.
            (Outcome::Unreachable, None, None, 0, Down),
            (Outcome::Denied, None, None, 0, Permission),
            (Outcome::Silent { waited: ms(3000) }, None, None, 0, Frozen { waited: ms(3000) }),
            (Outcome::Failed, None, None, 0, Error { tier: Ping }),
            // Ping answers, a lock-taking tier does not: wedged, naming the tier.
            (Outcome::Answered(ms(1)), silent(3000), ok(8), 0, Wedged { list: true, info: false, waited: ms(3000) }),
            (Outcome::Answered(ms(1)), ok(3), silent(3000), 2, Wedged { list: false, info: true, waited: ms(3000) }),
            (Outcome::Answered(ms(1)), silent(3000), silent(3000), 0, Wedged { list: true, info: true, waited: ms(3000) }),
            // Silence outranks an error in the other tier.
            (Outcome::Answered(ms(1)), Some(Outcome::Failed), silent(3000), 0, Wedged { list: false, info: true, waited: ms(3000) }),
            (Outcome::Answered(ms(1)), Some(Outcome::Failed), ok(3), 0, Error { tier: List }),
            (Outcome::Answered(ms(1)), ok(3), Some(Outcome::Failed), 4, Error { tier: Info }),
            // Only the ping was asked (a caller that probes the ping alone).
            (Outcome::Answered(ms(2)), None, None, 0, Healthy),
        ];
        for (ping, list, info, n, want) in cases {
            let t = Tiers {
                ping: *ping,
                list: *list,
                info: *info,
                containers: *n,
            };
            assert_eq!(&classify(&t, &LIMITS), want, "{t:?}");
        }
    }

    #[test]
    fn the_list_budget_grows_with_the_host() {
        assert_eq!(LIMITS.list_ms(0), 1000.0);
        assert_eq!(LIMITS.list_ms(10), 1002.5);
        assert_eq!(LIMITS.list_ms(10_000), 3500.0);
        // A negative per-container allowance from a config file cannot shrink the base.
        let odd = Limits {
            slow_ms: 1000.0,
            list_ms_per_container: -1.0,
        };
        assert_eq!(odd.list_ms(10_000), 1000.0);
    }

    #[test]
    fn engine_errors_map_to_outcomes() {
        let w = ms(3000);
        let cases: &[(EngineError, Outcome)] = &[
            (
                EngineError::NoSocket { path: "/x".into() },
                Outcome::Unreachable,
            ),
            (
                EngineError::Refused {
                    endpoint: "x".into(),
                },
                Outcome::Unreachable,
            ),
            (
                EngineError::ConnectTimeout {
                    endpoint: "x".into(),
                    waited: w,
                },
                Outcome::Unreachable,
            ),
            (
                EngineError::PermissionDenied { path: "/x".into() },
                Outcome::Denied,
            ),
            (
                EngineError::Frozen {
                    endpoint: "x".into(),
                    waited: w,
                },
                Outcome::Silent { waited: w },
            ),
            (
                EngineError::Api {
                    path: "/info".into(),
                    status: 500,
                    message: "x".into(),
                },
                Outcome::Failed,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(Outcome::of(Err(e)), *want, "{e}");
        }
        assert_eq!(Outcome::of(Ok(ms(5))), Outcome::Answered(ms(5)));
    }

    #[test]
    fn what_callers_act_on() {
        assert!(
            Health::Wedged {
                list: true,
                info: false,
                waited: ms(1)
            }
            .is_hung()
        );
        assert!(Health::Frozen { waited: ms(1) }.is_hung());
        assert!(!Health::Down.is_hung() && Health::Down.is_down());
        assert!(!Health::Slow { tiers: vec![] }.is_hung());
        assert!(Health::Slow { tiers: vec![] }.serves());
        assert!(
            !Health::Error {
                tier: TierName::List
            }
            .serves()
        );
    }
}
