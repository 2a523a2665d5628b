//! Verdicts of the disk area (see [`crate::policy`]).
