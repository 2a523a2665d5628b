//! Verdicts of the processes area (see [`crate::policy`]).
