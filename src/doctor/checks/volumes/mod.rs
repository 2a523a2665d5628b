//! Checks of the volumes area: anonymous volumes no container uses, from the storage map
//! `dockhand df` makes. Named volumes are data: counted, never called reclaimable.

mod dangling;

use super::{Probe, probe};

pub fn probes() -> Vec<Probe> {
    vec![probe!("volumes.dangling", dangling::check)]
}
