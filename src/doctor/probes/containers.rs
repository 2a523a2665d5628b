//! Checks of the containers area; see docs/checks/.

use super::Probe;

pub fn probes() -> Vec<Probe> {
    vec![]
}
