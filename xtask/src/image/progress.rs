//! Progress display for the long steps of `cargo xtask image`: a spinner for steps whose length
//! is unknown and a byte bar for layer writing. Both draw only on a terminal; every step is
//! also announced with one plain log line so logs from CI stay readable.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// Announces a step on stderr and returns a spinner that ticks until it is finished.
pub fn spinner(message: &str) -> ProgressBar {
    eprintln!("==> {message}");
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Announces a step on stderr and returns a bar counting `total` bytes.
pub fn bytes(message: &str, total: u64) -> ProgressBar {
    eprintln!("==> {message}");
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_owned());
    bar
}
