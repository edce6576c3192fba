//! The entrypoint's log: one line per event on stderr,
//! `<UTC time, ms> <LEVEL> ovnkube-db-ha: <part>: <message>`, written through `tracing`, so
//! kube-rs' and tokio's own events share the form and the level filter (`OVNKUBE_DB_HA_LOG`:
//! `error`, `warn`, `info` — the default —, `debug` or `trace`). Each part of the entrypoint
//! declares its `log` function with [`log_part!`](crate::log_part): its events carry the
//! part's name as their target. Time stamps let an operator (and a failed test's output) line
//! the parts' events up with Pacemaker's and with each other.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The variable that sets the level.
pub const LEVEL_VAR: &str = "OVNKUBE_DB_HA_LOG";
/// The target of events that name no part (printed without one).
pub const ROOT: &str = "ovnkube-db-ha";

/// Defines `fn log(msg)` in the calling module: an `info` event of part `$part`.
#[macro_export]
macro_rules! log_part {
    ($part:literal) => {
        #[allow(dead_code)]
        fn log(msg: impl AsRef<str>) {
            ::tracing::info!(target: $part, "{}", msg.as_ref());
        }
    };
}

/// The line format.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(
            w,
            "{:.3} {:<5} {ROOT}: ",
            jiff::Timestamp::now(),
            meta.level()
        )?;
        if meta.target() != ROOT {
            write!(w, "{}: ", meta.target())?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The level `value` names (case-insensitive); `None` for anything else.
pub fn parse_level(value: &str) -> Option<Level> {
    value.trim().parse().ok()
}

/// Installs the subscriber (once; later calls do nothing). An unknown level in
/// [`LEVEL_VAR`] is reported and `info` used.
pub fn init() {
    let raw = std::env::var(LEVEL_VAR).ok();
    let level = raw.as_deref().and_then(parse_level);
    let installed = tracing_subscriber::fmt()
        .with_max_level(level.unwrap_or(Level::INFO))
        .with_writer(std::io::stderr)
        .event_format(Line)
        .try_init()
        .is_ok();
    if installed
        && let Some(raw) = raw
        && level.is_none()
    {
        tracing::warn!(
            target: ROOT,
            "{LEVEL_VAR}={raw:?} is not a level: using info (set error, warn, info, debug or trace)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_in_any_case_and_nonsense_does_not() {
        assert_eq!(parse_level("debug"), Some(Level::DEBUG));
        assert_eq!(parse_level(" WARN "), Some(Level::WARN));
        assert_eq!(parse_level("loud"), None);
    }
}
