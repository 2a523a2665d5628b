//! The runtime core: the only code that talks to the outside world — the engine API, /proc,
//! the kernel, the data root on disk. Commands ask it; they never call these directly.

pub mod daemon;
pub mod endpoint;
pub mod engine;
pub mod host;
pub mod http;
pub mod inventory;
pub mod json_array;
pub mod net;
pub mod storage;

use std::time::Duration;

/// Runs blocking work (a /proc read, a statvfs, a directory walk) off the async thread, under a
/// deadline. Reading /proc of a process in `D` state can block forever; the work is then
/// abandoned — the run does not wait for it (main shuts the runtime down without joining).
pub async fn blocking<T, F>(deadline: Duration, f: F) -> Option<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Some(v),
        _ => None,
    }
}
