//! A bounded poll, shared by the end-to-end helpers and the benches.

use std::time::{Duration, Instant};

/// Waits, bounded, for `done`, polling every 100 ms; the elapsed time when it became true.
pub fn poll(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
