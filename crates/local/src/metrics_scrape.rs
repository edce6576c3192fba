//! Scraping a DB pod's Prometheus metrics as Prometheus does (`GET /metrics` over HTTP on the
//! host's address and the port the manifest declares) and checking the text with
//! `promtool check metrics` (Debian's `prometheus` package, which `cargo xtask test`
//! installs), for the fault suite. Bounded in time; only test-bed addresses are contacted.

use ovn_ha_exec::Exec;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// Prometheus' own checker of the text format and its naming rules.
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// The body of `GET /metrics` at `addr:port`, or why there is none.
pub fn scrape(addr: IpAddr, port: u16, limit: Duration) -> Result<String, String> {
    let at = SocketAddr::new(addr, port);
    let mut s = TcpStream::connect_timeout(&at, limit).map_err(|e| format!("{at}: {e}"))?;
    s.set_read_timeout(Some(limit))
        .and_then(|()| s.set_write_timeout(Some(limit)))
        .map_err(|e| format!("{at}: {e}"))?;
    // HTTP/1.0: the server closes the connection after its answer.
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: {at}\r\n\r\n").as_bytes())
        .map_err(|e| format!("{at}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("{at}: {e}"))?;
    let text = String::from_utf8(raw).map_err(|e| format!("{at}: not UTF-8: {e}"))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{at}: no HTTP header in {text:?}"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("{at}: {status}"));
    }
    Ok(body.to_string())
}

/// `promtool check metrics` on `text`: `Err` with promtool's findings when it objects.
pub fn promtool_check(text: &str) -> Result<(), String> {
    let mut cmd = Command::new(PROMTOOL);
    cmd.args(["check", "metrics"]);
    let out = Exec::new(&cmd)
        .input(text.as_bytes())
        .limit(Duration::from_secs(30))
        .unchecked()
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The value of the series written exactly as `series` (name and labels), if present.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .find_map(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_series_by_its_exact_name_and_labels() {
        let text = "# TYPE a gauge\na 1\na_total 5\nb{node=\"x\"} 2.5\nb{node=\"y\"} 0\n";
        assert_eq!(value(text, "a"), Some(1.0));
        assert_eq!(value(text, "a_total"), Some(5.0));
        assert_eq!(value(text, "b{node=\"x\"}"), Some(2.5));
        assert_eq!(value(text, "b{node=\"z\"}"), None);
        assert_eq!(value(text, "c"), None);
    }
}
