//! The disk area: the filesystem holding the data root. One file per check; the verdicts are
//! in [`crate::policy::disk`].

mod data_root;

use super::{Probe, probe};

pub fn probes() -> Vec<Probe> {
    vec![probe!("disk.data-root", data_root::check)]
}
