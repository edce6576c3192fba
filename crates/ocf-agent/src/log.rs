//! Logging as `ocf_log` does: syslog when `HA_LOGFACILITY` is set, appended to `HA_LOGFILE`
//! when set, stderr when neither; debug lines only when `HA_debug` is not 0. Syslog is written
//! straight to `/dev/log` (no `logger` process).

use crate::env::Env;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

/// Severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Debug (only with `HA_debug`).
    Debug,
    /// Informational.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Err,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Err => "ERROR",
        }
    }

    fn severity(self) -> u8 {
        match self {
            Level::Debug => 7,
            Level::Info => 6,
            Level::Warn => 4,
            Level::Err => 3,
        }
    }
}

/// Syslog facility number for a name (`daemon`, `local0`…); `None` for `none` or unknown.
pub fn facility_code(name: &str) -> Option<u8> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "uucp" => 8,
        "cron" => 9,
        "authpriv" => 10,
        "ftp" => 11,
        _ => match n.strip_prefix("local").and_then(|d| d.parse::<u8>().ok()) {
            Some(d) if d <= 7 => 16 + d,
            _ => return None,
        },
    })
}

/// The log destinations chosen from the environment.
#[derive(Debug)]
pub struct Logger {
    tag: String,
    facility: Option<u8>,
    logfile: Option<PathBuf>,
    debug: bool,
}

impl Logger {
    /// Reads `HA_LOGFACILITY`, `HA_LOGFILE`, `HA_debug` and the instance name.
    pub fn from_env(env: &Env) -> Self {
        Self {
            tag: format!("ovndb-servers({})[{}]", env.instance(), std::process::id()),
            facility: env.var("HA_LOGFACILITY").and_then(facility_code),
            logfile: env
                .var("HA_LOGFILE")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            debug: env.debug(),
        }
    }

    /// The syslog datagram for a message (pure).
    pub fn syslog_line(&self, facility: u8, level: Level, msg: &str) -> String {
        let pri = u16::from(facility) * 8 + u16::from(level.severity());
        format!("<{pri}>{}: {}: {msg}", self.tag, level.word())
    }

    /// Logs one message.
    pub fn log(&self, level: Level, msg: &str) {
        if level == Level::Debug && !self.debug {
            return;
        }
        let mut written = false;
        if let Some(facility) = self.facility
            && let Ok(sock) = UnixDatagram::unbound()
        {
            let line = self.syslog_line(facility, level, msg);
            if sock.send_to(line.as_bytes(), "/dev/log").is_ok() {
                written = true;
            }
        }
        if let Some(path) = &self.logfile
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
        {
            let line = format!("{} {}: {}: {msg}\n", now_text(), self.tag, level.word());
            if f.write_all(line.as_bytes()).is_ok() {
                written = true;
            }
        }
        if !written {
            eprintln!("{}: {}: {msg}", self.tag, level.word());
        }
    }

    /// Debug message.
    pub fn debug(&self, msg: &str) {
        self.log(Level::Debug, msg);
    }
    /// Informational message.
    pub fn info(&self, msg: &str) {
        self.log(Level::Info, msg);
    }
    /// Warning.
    pub fn warn(&self, msg: &str) {
        self.log(Level::Warn, msg);
    }
    /// Error.
    pub fn err(&self, msg: &str) {
        self.log(Level::Err, msg);
    }

    /// Logs an error and prints the `ocf-exit-reason:` line Pacemaker shows.
    pub fn exit_reason(&self, reason: &str) {
        self.err(reason);
        eprintln!("ocf-exit-reason:{reason}");
    }
}

/// UTC time as `YYYY-MM-DDTHH:MM:SSZ` without a time crate.
fn now_text() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats Unix seconds as UTC (pure; civil-from-days algorithm).
pub fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        for (name, want) in [
            ("daemon", Some(3)),
            ("LOCAL0", Some(16)),
            ("local7", Some(23)),
            ("local8", None),
            ("none", None),
            ("", None),
        ] {
            assert_eq!(facility_code(name), want, "{name}");
        }
    }

    #[test]
    fn syslog_format_and_tag() {
        let env = Env::from_pairs([
            ("OCF_RESOURCE_INSTANCE", "ovndb_servers"),
            ("HA_LOGFACILITY", "daemon"),
        ]);
        let l = Logger::from_env(&env);
        let line = l.syslog_line(3, Level::Warn, "hello");
        assert!(
            line.starts_with(&format!(
                "<28>ovndb-servers(ovndb_servers)[{}]: WARNING: hello",
                std::process::id()
            )),
            "{line}"
        );
        assert_eq!(l.facility, Some(3));
    }

    #[test]
    fn logfile_gets_lines_and_debug_is_gated() {
        let path = std::env::temp_dir().join(format!("ovndb-servers-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let p = path.to_string_lossy().into_owned();
        let l = Logger::from_env(&Env::from_pairs([("HA_LOGFILE", p.as_str())]));
        l.info("one");
        l.debug("hidden");
        let l = Logger::from_env(&Env::from_pairs([
            ("HA_LOGFILE", p.as_str()),
            ("HA_debug", "1"),
        ]));
        l.debug("shown");
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(text.contains("INFO: one") && text.contains("DEBUG: shown"));
        assert!(!text.contains("hidden"));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_795_606_245), "2026-11-25T11:30:45Z");
    }
}
