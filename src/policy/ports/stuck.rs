//! Owners that cannot accept: a listener is stuck only when every process holding its
//! socket is stopped, frozen or a zombie.

use serde::{Deserialize, Serialize};

/// Why an owner of a listening socket cannot serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stuck {
    /// Its parent is a zombie: whoever started it died and nobody reaped the parent.
    ParentZombie,
    /// `t`: stopped by a tracer (a debugger).
    Traced,
    /// `D`: uninterruptible sleep. Judged on one sample: only one seen in *every* sample of a
    /// series counts ([`Stuck::needs_confirmation`]) — a short D is ordinary disk I/O.
    Uninterruptible,
    /// `T`: stopped by a signal (SIGSTOP, SIGTSTP).
    Stopped,
}

impl Stuck {
    /// Critical (nothing will ever answer) rather than a warning.
    pub fn critical(self) -> bool {
        matches!(self, Stuck::Stopped | Stuck::Uninterruptible)
    }

    /// The state must be seen again in later samples before it counts.
    pub fn needs_confirmation(self) -> bool {
        self == Stuck::Uninterruptible
    }

    /// The verdict after one more sample of the owner's state: one that needs confirmation
    /// holds only while the owner is still in D (`None`: the owner is gone, or left D).
    pub fn confirmed(self, state_now: Option<char>) -> Option<Stuck> {
        if self.needs_confirmation() && state_now != Some('D') {
            None
        } else {
            Some(self)
        }
    }

    /// `stopped`, `uninterruptible`, `traced`, `parent-zombie`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stuck::Stopped => "stopped",
            Stuck::Uninterruptible => "uninterruptible",
            Stuck::Traced => "traced",
            Stuck::ParentZombie => "parent-zombie",
        }
    }
}

/// The verdict on one owner from one sample of its state letter, its wchan and its parent's
/// state. A process frozen by the cgroup freezer (`docker pause`) is paused on purpose, not
/// stuck.
pub fn classify_owner(
    state: char,
    wchan: Option<&str>,
    parent_state: Option<char>,
) -> Option<Stuck> {
    let frozen = wchan.is_some_and(|w| w.contains("refrigerator") || w.contains("freezer"));
    match state {
        'T' => Some(Stuck::Stopped),
        't' => Some(Stuck::Traced),
        'D' if !frozen => Some(Stuck::Uninterruptible),
        _ if parent_state == Some('Z') => Some(Stuck::ParentZombie),
        _ => None,
    }
}

/// A listener is stuck only when every owner is (one live worker of a pre-fork server still
/// serves the socket), and when it has owners at all; then the worst reason.
pub fn listener_stuck(owners: &[Option<Stuck>]) -> Option<Stuck> {
    if owners.is_empty() || owners.iter().any(Option::is_none) {
        return None;
    }
    owners.iter().flatten().copied().max()
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn owner_states() {
        let cases = [
            ('T', None, Some('S'), Some(Stuck::Stopped)),
            ('t', None, Some('S'), Some(Stuck::Traced)),
            (
                'D',
                Some("nfs_wait"),
                Some('S'),
                Some(Stuck::Uninterruptible),
            ),
            ('D', Some("__refrigerator"), Some('S'), None),
            ('S', Some("do_freezer_trap"), Some('S'), None),
            ('S', None, Some('Z'), Some(Stuck::ParentZombie)),
            ('T', None, Some('Z'), Some(Stuck::Stopped)),
            ('S', None, Some('S'), None),
            ('R', None, None, None),
        ];
        for (state, wchan, parent, want) in cases {
            assert_eq!(
                classify_owner(state, wchan, parent),
                want,
                "{state} {wchan:?} {parent:?}"
            );
        }
    }

    #[test]
    fn a_listener_is_stuck_only_when_every_owner_is() {
        use Stuck::*;
        let cases: &[(&[Option<Stuck>], Option<Stuck>)] = &[
            (&[], None),
            (&[Some(Stopped)], Some(Stopped)),
            (&[Some(Stopped), None], None),
            (
                &[Some(Traced), Some(Uninterruptible)],
                Some(Uninterruptible),
            ),
            (
                &[Some(ParentZombie), Some(Stopped), Some(Traced)],
                Some(Stopped),
            ),
            (&[Some(ParentZombie)], Some(ParentZombie)),
        ];
        for (owners, want) in cases {
            assert_eq!(listener_stuck(owners), *want, "{owners:?}");
        }
        assert!(Stopped.critical() && Uninterruptible.critical());
        // Only D must be seen again; the rest stand on one sample.
        let cases = [
            (Uninterruptible, Some('D'), Some(Uninterruptible)),
            (Uninterruptible, Some('S'), None),
            (Uninterruptible, None, None),
            (Stopped, Some('R'), Some(Stopped)),
            (ParentZombie, None, Some(ParentZombie)),
        ];
        for (v, now, want) in cases {
            assert_eq!(v.confirmed(now), want, "{v:?} {now:?}");
        }
        assert!(!Traced.critical() && !ParentZombie.critical());
    }
}
