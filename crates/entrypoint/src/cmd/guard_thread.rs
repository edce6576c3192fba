//! The handle of a guard thread that polls until told to quit and acts only while active: the
//! crash watcher and the standby link. Pausing (before a planned stop) keeps the thread
//! running but idle; dropping the handle pauses it, tells it to quit and joins it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// What the thread's body sees: whether to act, and whether to end.
pub struct Flags {
    active: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
}

impl Flags {
    /// Acting (not paused).
    pub fn active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// Told to end.
    pub fn quit(&self) -> bool {
        self.quit.load(Ordering::SeqCst)
    }
}

/// A running guard thread (or none, for a guard that is off).
pub struct GuardThread {
    active: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GuardThread {
    /// Starts `body` on a thread called `name`; a failure to start is passed to `log`.
    pub fn spawn(name: &str, log: fn(String), body: impl FnOnce(&Flags) + Send + 'static) -> Self {
        let flags = Flags {
            active: Arc::new(AtomicBool::new(true)),
            quit: Arc::new(AtomicBool::new(false)),
        };
        let (active, quit) = (Arc::clone(&flags.active), Arc::clone(&flags.quit));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(&flags))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        GuardThread {
            active,
            quit,
            thread,
        }
    }

    /// A guard that is off: no thread, never acts.
    pub fn off() -> Self {
        GuardThread {
            active: Arc::new(AtomicBool::new(false)),
            quit: Arc::new(AtomicBool::new(true)),
            thread: None,
        }
    }

    /// Stops acting (a planned stop is coming); idempotent.
    pub fn pause(&self) {
        self.active.store(false, Ordering::SeqCst);
    }
}

impl Drop for GuardThread {
    fn drop(&mut self) {
        self.pause();
        self.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_paused_guard_idles_and_a_dropped_one_ends() {
        let (tx, rx) = mpsc::channel();
        let g = GuardThread::spawn(
            "test-guard",
            |_| {},
            move |f| {
                while !f.quit() {
                    let _ = tx.send(f.active());
                    std::thread::sleep(Duration::from_millis(1));
                }
            },
        );
        assert!(rx.recv_timeout(Duration::from_secs(5)).unwrap());
        g.pause();
        // Every report after the pause is seen says inactive (bounded: 1,000 reports).
        let mut saw_paused = false;
        for _ in 0..1000 {
            if !rx.recv_timeout(Duration::from_secs(5)).unwrap() {
                saw_paused = true;
                break;
            }
        }
        assert!(saw_paused);
        drop(g); // joins: the sender is dropped with the thread
        while rx.recv_timeout(Duration::from_secs(5)).is_ok() {}
        let off = GuardThread::off();
        drop(off);
    }
}
