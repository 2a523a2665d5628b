//! Verdicts of the ports area (see [`crate::policy`]).
