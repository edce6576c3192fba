//! Where one OVSDB JSON-RPC message ends in a byte stream (pure).
//!
//! OVSDB's JSON-RPC (RFC 7047) sends JSON objects back to back, with no length prefix or
//! delimiter: a message ends where its outermost brace closes. [`Framer`] follows the nesting
//! of objects and arrays, and the strings whose braces do not count, across reads of any size,
//! so the replication proxy can forward whole messages and put its own between them.

use thiserror::Error;

/// The stream is not a sequence of JSON objects.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("byte {byte:#04x} between messages: not a JSON-RPC stream")]
pub struct NotJsonRpc {
    /// The offending byte.
    pub byte: u8,
}

/// Incremental message boundaries of one direction of one connection.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl Framer {
    /// Feeds the next bytes of the stream; returns the offsets in `buf` just past each
    /// message that ends in it.
    pub fn feed(&mut self, buf: &[u8]) -> Result<Vec<usize>, NotJsonRpc> {
        let mut ends = Vec::new();
        for (i, &b) in buf.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        ends.push(i + 1);
                    }
                }
                b'"' if self.depth > 0 => self.in_string = true,
                b' ' | b'\t' | b'\r' | b'\n' => {}
                _ if self.depth > 0 => {}
                _ => return Err(NotJsonRpc { byte: b }),
            }
        }
        Ok(ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `stream` into reads of `chunk` bytes and returns the messages framed.
    fn frame(stream: &str, chunk: usize) -> Vec<String> {
        let mut f = Framer::default();
        let mut cur = Vec::new();
        let mut out = Vec::new();
        for piece in stream.as_bytes().chunks(chunk) {
            let mut from = 0;
            for end in f.feed(piece).unwrap() {
                cur.extend_from_slice(&piece[from..end]);
                out.push(
                    String::from_utf8(std::mem::take(&mut cur))
                        .unwrap()
                        .trim()
                        .to_string(),
                );
                from = end;
            }
            cur.extend_from_slice(&piece[from..]);
        }
        out
    }

    #[test]
    fn messages_back_to_back_in_any_chunking() {
        let stream = r#"{"id":1,"method":"echo","params":[]}
{"id":null,"method":"update2","params":["x",{"T":{"u":{"insert":{"name":"a}\"{b"}}}}]} {"id":"s-3","result":[],"error":null}"#;
        let want = vec![
            r#"{"id":1,"method":"echo","params":[]}"#.to_string(),
            r#"{"id":null,"method":"update2","params":["x",{"T":{"u":{"insert":{"name":"a}\"{b"}}}}]}"#.to_string(),
            r#"{"id":"s-3","result":[],"error":null}"#.to_string(),
        ];
        for chunk in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(frame(stream, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn an_escaped_backslash_ends_the_escape() {
        assert_eq!(
            frame(r#"{"a":"x\\"}{"b":"\"}"}"#, 1),
            vec![r#"{"a":"x\\"}"#, r#"{"b":"\"}"}"#]
        );
    }

    #[test]
    fn bytes_outside_an_object_are_refused() {
        let mut f = Framer::default();
        assert_eq!(f.feed(b"{}x"), Err(NotJsonRpc { byte: b'x' }));
        assert!(Framer::default().feed(b" \n{").unwrap().is_empty());
    }
}
