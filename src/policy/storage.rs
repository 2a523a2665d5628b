//! Verdicts of the storage area (see [`crate::policy`]).
