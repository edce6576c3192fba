//! Panics end the pod through its one safe stop path. A panic in any thread of `run` is
//! recorded by a hook (and logged with the thread's name); the supervisor sees it on its next
//! tick and fails, and a panic of the supervisor itself is caught and turned into the same
//! failure. That path releases the VIP and stops the database servers before corosync leaves
//! the membership, so a broken guard thread (the fence, the crash watcher) can never leave a
//! copy taking writes unguarded, and an unwinding main thread never exits with the VIP held.

use std::any::Any;
use std::sync::Mutex;

/// The first panic seen: thread name and message.
static FIRST: Mutex<Option<String>> = Mutex::new(None);

/// Installs the hook (once per process; later calls add nothing). The previous hook still
/// prints the message and, if asked for, the backtrace.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let what = format!(
                "thread '{}' panicked: {}",
                thread.name().unwrap_or("unnamed"),
                message(info.payload())
            );
            if let Ok(mut first) = FIRST.lock() {
                first.get_or_insert(what);
            }
            previous(info);
        }));
    });
}

/// The first recorded panic, if any thread has panicked since [`install`].
pub fn first() -> Option<String> {
    FIRST.lock().ok().and_then(|f| f.clone())
}

/// A panic payload as text.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test: the record is process-wide, and the test harness runs tests in parallel.
    #[test]
    fn a_panic_in_any_thread_is_recorded_once() {
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(42_u8));
        assert_eq!(caught.map_err(|p| message(&*p)), Err("(no message)".into()));
        install();
        install();
        let handle = std::thread::Builder::new()
            .name("replication-fence".into())
            .spawn(|| panic!("boom {}", 7))
            .map(|h| h.join());
        assert!(matches!(handle, Ok(Err(_))), "the thread did not panic");
        let first = first().unwrap_or_default();
        assert!(
            first.contains("'replication-fence'") && first.contains("boom 7"),
            "{first}"
        );
        let caught = std::panic::catch_unwind(|| panic!("static text"));
        assert_eq!(caught.map_err(|p| message(&*p)), Err("static text".into()));
        assert_eq!(super::first().as_deref(), Some(first.as_str()));
    }
}
