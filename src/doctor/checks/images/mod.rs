//! Checks of the images area: dangling images, from the storage map `dockhand df` makes.

mod dangling;

use super::{Probe, probe};

pub fn probes() -> Vec<Probe> {
    vec![probe!("images.dangling", dangling::check)]
}
