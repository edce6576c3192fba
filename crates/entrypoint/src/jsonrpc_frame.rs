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

impl Framer {
    /// Whether the bytes fed so far end between two messages.
    pub fn between_messages(&self) -> bool {
        self.depth == 0 && !self.in_string
    }
}

/// Taps one direction of a forwarded stream: frames it and hands back the whole messages a
/// caller's byte test picks, each at most [`Tap::MAX`] bytes (a larger one, such as a
/// database's initial contents, is passed over). A stream that is not JSON-RPC stops the tap;
/// forwarding is the caller's and goes on.
#[derive(Debug, Default, Clone)]
pub struct Tap {
    framer: Framer,
    current: Vec<u8>,
    too_long: bool,
    broken: bool,
}

impl Tap {
    /// The longest message kept.
    pub const MAX: usize = 256 * 1024;

    /// Feeds the next bytes; returns the messages ending in them that `wanted` accepts.
    pub fn feed(&mut self, buf: &[u8], wanted: impl Fn(&[u8]) -> bool) -> Vec<Vec<u8>> {
        if self.broken {
            return Vec::new();
        }
        let Ok(ends) = self.framer.feed(buf) else {
            self.broken = true;
            self.current = Vec::new();
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut from = 0;
        for end in ends {
            self.keep(&buf[from..end]);
            let message = std::mem::take(&mut self.current);
            if !std::mem::take(&mut self.too_long) && wanted(&message) {
                out.push(message);
            }
            from = end;
        }
        self.keep(&buf[from..]);
        out
    }

    fn keep(&mut self, mut bytes: &[u8]) {
        if self.too_long {
            return;
        }
        if self.current.is_empty() {
            // Whitespace between messages belongs to neither.
            let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
            bytes = &bytes[skip..];
        }
        if self.current.len() + bytes.len() > Self::MAX {
            self.too_long = true;
            self.current = Vec::new();
        } else {
            self.current.extend_from_slice(bytes);
        }
    }

    /// Whether everything fed ends between two messages (false once the stream broke).
    pub fn between_messages(&self) -> bool {
        !self.broken && self.framer.between_messages()
    }

    /// Whether the stream turned out not to be JSON-RPC (nothing is framed any more).
    pub fn broken(&self) -> bool {
        self.broken
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

    #[test]
    fn the_tap_hands_back_picked_messages_and_passes_over_long_ones() {
        let long = format!(r#"{{"x":"{}"}}"#, "a".repeat(Tap::MAX));
        let stream = format!(r#"{{"keep":1}}{long}{{"drop":2}} {{"keep":3}}"#);
        let mut tap = Tap::default();
        let mut got = Vec::new();
        for piece in stream.as_bytes().chunks(1000) {
            for m in tap.feed(piece, |m| !m.windows(4).any(|w| w == b"drop")) {
                got.push(String::from_utf8(m).unwrap());
            }
        }
        assert_eq!(got, vec![r#"{"keep":1}"#, r#"{"keep":3}"#]);
        assert!(tap.between_messages());
        tap.feed(br#"{"half":"#, |_| true);
        assert!(!tap.between_messages());
        let mut bad = Tap::default();
        assert!(bad.feed(b"x{}", |_| true).is_empty());
        assert!(!bad.between_messages());
    }
}
