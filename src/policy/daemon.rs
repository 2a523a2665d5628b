//! Verdicts of the daemon area (see [`crate::policy`]).
