//! Cooperative shutdown: SIGINT and SIGTERM set a flag and wake whoever waits on it.
//!
//! Read-only commands (doctor, df, journal) race their work against [`Shutdown::wait`] and stop at
//! once. Mutating commands hand the handle to `actions::apply`, which starts nothing new once it
//! is triggered, lets the steps in flight finish (each is bounded by its own deadline), journals
//! the rest as not started, and then the run exits 130. A second signal while that happens exits
//! at once with 130: the step in flight then stays in the journal as an intent without an
//! outcome, which `dockhand journal` shows as unfinished.
//!
//! Tests trigger it programmatically with [`Shutdown::trigger`], so an interrupted run can be
//! reproduced without sending signals to the test process.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A cheap, cloneable handle: every clone sees the same flag.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Shared with signal-hook's handler (which may only do async-signal-safe things: a store).
    flag: Arc<AtomicBool>,
    notify: Notify,
}

impl Shutdown {
    /// A handle no signal is connected to: trigger it with [`Shutdown::trigger`].
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A handle triggered by SIGINT and SIGTERM. Must be called inside a tokio runtime with I/O
    /// enabled: a task there turns the signal's byte on a socket pair into a wake-up, so waiters
    /// wake at once instead of polling the flag.
    pub fn install() -> io::Result<Shutdown> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let s = Shutdown::new();
        let (rx, tx) = std::os::unix::net::UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        for sig in [SIGINT, SIGTERM] {
            // Registered before the flag: on the first signal the flag is still false, so only
            // a second one exits at once.
            signal_hook::flag::register_conditional_shutdown(
                sig,
                crate::exit::ExitCode::Interrupted.code(),
                Arc::clone(&s.inner.flag),
            )?;
            signal_hook::flag::register(sig, Arc::clone(&s.inner.flag))?;
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)?;
        }
        let rx = tokio::net::UnixStream::from_std(rx)?;
        let waker = s.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 16];
            loop {
                if rx.readable().await.is_err() {
                    return;
                }
                match rx.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(_) => waker.wake(),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        });
        Ok(s)
    }

    /// Asks everything holding this handle to stop.
    pub fn trigger(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        self.inner.notify.notify_waiters();
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Returns once the handle is triggered (at once if it already is).
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a trigger between the check and the await is
            // not lost.
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn trigger_wakes_every_waiter() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        let a = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        let b = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        tokio::task::yield_now().await;
        s.trigger();
        tokio::time::timeout(Duration::from_secs(2), async {
            a.await.expect("a");
            b.await.expect("b");
        })
        .await
        .expect("both waiters woke");
        assert!(s.is_triggered());
        // Waiting on a triggered handle returns at once.
        tokio::time::timeout(Duration::from_millis(100), s.wait())
            .await
            .expect("already triggered");
    }
}
