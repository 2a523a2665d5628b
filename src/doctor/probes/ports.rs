//! Checks of the ports area; see docs/checks/.

use super::Probe;

pub fn probes() -> Vec<Probe> {
    vec![]
}
