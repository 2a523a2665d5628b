//! Checks of the pulls area: a download that stopped for good ([`stalled`]). See
//! docs/checks/pulls.md; the verdict is in [`crate::policy::pulls`].

pub mod stalled;

use super::{Probe, probe};

pub fn probes() -> Vec<Probe> {
    vec![probe!("pulls.stalled", stalled::check)]
}
