//! Verdicts of the containers area (see [`crate::policy`]).
