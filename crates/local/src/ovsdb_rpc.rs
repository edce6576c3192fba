//! A minimal OVSDB JSON-RPC client (RFC 7047) for tests and benchmarks that need transactions
//! too large for a command line (`ovsdb-client transact` takes the transaction as one
//! argument, which the kernel limits to 128 KiB): one `transact` over TCP or a unix socket,
//! answering the server's `echo` requests meanwhile, every read bounded by a timeout.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What went wrong with a transaction.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("OVSDB connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("OVSDB reply is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("OVSDB connection closed before the reply")]
    Closed,
    #[error("OVSDB transaction failed: {0}")]
    Failed(String),
}

/// Sends one `transact` of `ops` on `db` and returns its result (one entry per operation).
/// An operation error (an entry with `"error"`) is a failure.
pub fn transact<S: Read + Write>(
    stream: &mut S,
    db: &str,
    ops: &[Value],
) -> Result<Value, RpcError> {
    let mut params = vec![json!(db)];
    params.extend(ops.iter().cloned());
    let request = json!({"method": "transact", "params": params, "id": 1});
    stream.write_all(request.to_string().as_bytes())?;
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            // Not an error: on Linux a read on a socket with a timeout fails with EINTR after
            // any signal, even a stop and continue of the process.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read?,
        };
        if n == 0 {
            return Err(RpcError::Closed);
        }
        pending.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut values = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let mut consumed = 0;
        let mut reply = None;
        while let Some(v) = values.next() {
            match v {
                Ok(v) => {
                    consumed = values.byte_offset();
                    if v["method"] == "echo" {
                        let answer = json!({"id": v["id"], "result": v["params"], "error": null});
                        stream.write_all(answer.to_string().as_bytes())?;
                    } else if v["id"] == 1 {
                        reply = Some(v);
                        break;
                    }
                }
                Err(e) if e.is_eof() => break,
                Err(e) => return Err(e.into()),
            }
        }
        pending.drain(..consumed);
        if let Some(v) = reply {
            if !v["error"].is_null() {
                return Err(RpcError::Failed(v["error"].to_string()));
            }
            let result = v["result"].clone();
            if let Some(failed) = result
                .as_array()
                .and_then(|ops| ops.iter().find(|o| !o["error"].is_null()))
            {
                return Err(RpcError::Failed(failed.to_string()));
            }
            return Ok(result);
        }
    }
}

/// [`transact`] over TCP to `addr`.
pub fn transact_tcp(
    addr: SocketAddr,
    db: &str,
    ops: &[Value],
    timeout: Duration,
) -> Result<Value, RpcError> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    transact(&mut s, db, ops)
}

/// [`transact`] over the unix socket at `path`.
pub fn transact_unix(
    path: &Path,
    db: &str,
    ops: &[Value],
    timeout: Duration,
) -> Result<Value, RpcError> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    transact(&mut s, db, ops)
}

/// The number of rows `table` holds, asked over the unix socket at `path`.
pub fn count_rows(
    path: &Path,
    db: &str,
    table: &str,
    timeout: Duration,
) -> Result<usize, RpcError> {
    let result = transact_unix(
        path,
        db,
        &[json!({"op": "select", "table": table, "where": [], "columns": ["_uuid"]})],
        timeout,
    )?;
    Ok(result[0]["rows"].as_array().map_or(0, Vec::len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake server: what it "sends" is read from `input`; what the client writes is kept.
    struct Fake {
        input: std::io::Cursor<Vec<u8>>,
        written: Vec<u8>,
        /// Every other read is interrupted by a signal (EINTR).
        interrupt: bool,
    }

    impl Read for Fake {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.interrupt = !self.interrupt;
            if self.interrupt {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            // One byte at a time: replies split anywhere must still parse.
            let n = buf.len().min(1);
            self.input.read(&mut buf[..n])
        }
    }

    impl Write for Fake {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn fake(replies: &str) -> Fake {
        Fake {
            input: std::io::Cursor::new(replies.as_bytes().to_vec()),
            written: Vec::new(),
            interrupt: false,
        }
    }

    #[test]
    fn answers_echo_and_returns_the_result() {
        let mut f = fake(
            r#"{"id":"echo","method":"echo","params":[]}{"id":1,"result":[{"uuid":["uuid","x"]}],"error":null}"#,
        );
        let r = transact(
            &mut f,
            "OVN_Southbound",
            &[json!({"op": "comment", "comment": "x"})],
        )
        .unwrap();
        assert_eq!(r[0]["uuid"][1], "x");
        let written = String::from_utf8(f.written).unwrap();
        assert!(
            written.starts_with(r#"{"id":1,"method":"transact","params":["OVN_Southbound","#),
            "{written}"
        );
        assert!(
            written.contains(r#""result":[]"#),
            "the echo was answered: {written}"
        );
    }

    #[test]
    fn errors_are_failures() {
        let mut f = fake(r#"{"id":1,"result":[{"error":"constraint violation"}],"error":null}"#);
        assert!(matches!(
            transact(&mut f, "db", &[]),
            Err(RpcError::Failed(_))
        ));
        let mut f = fake(r#"{"id":1,"result":null,"error":"unknown database"}"#);
        assert!(matches!(
            transact(&mut f, "db", &[]),
            Err(RpcError::Failed(_))
        ));
        let mut f = fake(r#"{"id":1,"res"#);
        assert!(matches!(transact(&mut f, "db", &[]), Err(RpcError::Closed)));
    }
}
