//! Verdicts of the pulls area (see [`crate::policy`]).
