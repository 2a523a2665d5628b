//! The one parser each for the values a user or the engine writes: dates, sizes (and
//! durations). Base layer: imports nothing of dockhand's.

mod dates;
mod sizes;

pub use dates::{parse_instant, parse_rfc3339, parse_since, parse_timestamp, rfc3339, rfc3339_ms};
pub use sizes::parse_size;
