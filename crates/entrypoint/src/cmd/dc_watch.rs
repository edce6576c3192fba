//! The DC watcher: a thread that asks the local controller who the DC is every [`POLL`] and
//! keeps the agent's marker file in step (see `dc_marker` for why). Best effort: a lookup that
//! fails or times out changes nothing; the marker is removed when the watcher stops.

use super::proc::output;
use ovnkube_db_ha::dc_marker::{AGENT_DC_MARKER, marker_change, parse_dc_lookup};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the DC is looked up (DC changes only at elections).
const POLL: Duration = Duration::from_secs(1);
/// Limit of one `crmadmin` call.
const LOOKUP_LIMIT: Duration = Duration::from_secs(3);

fn log(msg: impl AsRef<str>) {
    eprintln!("ovnkube-db-ha: dc watcher: {}", msg.as_ref());
}

/// The running watcher.
pub struct DcWatch {
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DcWatch {
    /// Starts watching for `node`.
    pub fn start(node: String) -> Self {
        set_marker(false);
        let quit = Arc::new(AtomicBool::new(false));
        let q = Arc::clone(&quit);
        let thread = std::thread::Builder::new()
            .name("dc-watch".into())
            .spawn(move || watch(&node, &q))
            .map_err(|e| log(format!("cannot start: {e}")))
            .ok();
        DcWatch { quit, thread }
    }
}

impl Drop for DcWatch {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        set_marker(false);
    }
}

fn lookup() -> Option<Option<String>> {
    let out = output(
        "crmadmin",
        &["--dc_lookup", "--quiet", "--timeout=2s"],
        None,
        LOOKUP_LIMIT,
    )
    .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(parse_dc_lookup(&text).map(str::to_owned))
}

fn set_marker(on: bool) {
    let path = Path::new(AGENT_DC_MARKER);
    let res = if on {
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, b""))
    } else {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    };
    if let Err(e) = res {
        log(format!("cannot update {AGENT_DC_MARKER}: {e}"));
    }
}

/// Brings the marker in step with `lookup` (the DC's name, `Some(None)` for none, `None` for
/// no answer).
pub fn sync_marker(me: &str, lookup: Option<Option<&str>>) {
    let exists = Path::new(AGENT_DC_MARKER).exists();
    if let Some(on) = marker_change(lookup, me, exists) {
        log(if on {
            "this node is the DC: its unpromoted copy defers"
        } else {
            "this node is not the DC"
        });
        set_marker(on);
    }
}

fn watch(me: &str, quit: &AtomicBool) {
    let mut slept = POLL;
    while !quit.load(Ordering::SeqCst) {
        if slept >= POLL {
            slept = Duration::ZERO;
            let found = lookup();
            sync_marker(me, found.as_ref().map(|o| o.as_deref()));
        }
        std::thread::sleep(Duration::from_millis(100));
        slept += Duration::from_millis(100);
    }
}
