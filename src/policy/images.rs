//! Verdicts of the images area (see [`crate::policy`]).
