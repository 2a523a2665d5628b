//! Checks of the storage area; see docs/checks/.

use super::Probe;

pub fn probes() -> Vec<Probe> {
    vec![]
}
