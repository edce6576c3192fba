//! The unixctl wire format: request encoding and incremental decoding of replies.
//!
//! A request is exactly `{"method":M,"params":[..],"id":N}`: any other member, or a missing
//! `params`, makes ovsdb-server drop the connection. Replies are bare JSON objects written
//! back to back with no delimiter, so they are cut out of the byte stream with an incremental
//! JSON parser.

use crate::error::ProtocolError;
use serde_json::Value;

/// Encodes one request; members in the order ovsdb-server's own client uses.
pub fn encode_request(method: &str, params: &[&str], id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + method.len());
    out.extend_from_slice(b"{\"method\":");
    push_json_string(&mut out, method);
    out.extend_from_slice(b",\"params\":[");
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_string(&mut out, p);
    }
    out.extend_from_slice(b"],\"id\":");
    out.extend_from_slice(id.to_string().as_bytes());
    out.push(b'}');
    out
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping; a &str always serializes.
    let quoted = Value::String(s.to_owned()).to_string();
    out.extend_from_slice(quoted.as_bytes());
}

/// One decoded reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The request id it answers.
    pub id: u64,
    /// `Ok(result text)` or `Err(error text)`, both untrimmed.
    pub outcome: Result<String, String>,
}

impl Reply {
    /// Interprets one JSON value as a unixctl reply.
    pub fn from_value(value: &Value) -> Result<Self, ProtocolError> {
        let obj = value.as_object().ok_or(ProtocolError::NotObject)?;
        let id = obj
            .get("id")
            .and_then(Value::as_u64)
            .ok_or(ProtocolError::MissingId)?;
        match obj.get("error") {
            Some(Value::Null) | None => {}
            Some(Value::String(e)) => {
                return Ok(Self {
                    id,
                    outcome: Err(e.clone()),
                });
            }
            Some(other) => {
                return Ok(Self {
                    id,
                    outcome: Err(other.to_string()),
                });
            }
        }
        match obj.get("result") {
            Some(Value::String(r)) => Ok(Self {
                id,
                outcome: Ok(r.clone()),
            }),
            _ => Err(ProtocolError::NoResult),
        }
    }

    /// Parses one complete reply from text.
    pub fn parse(text: &str) -> Result<Self, ProtocolError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ProtocolError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }
}

/// Accumulates bytes from the socket and yields complete replies as they arrive.
#[derive(Debug, Default)]
pub struct ReplyDecoder {
    buf: Vec<u8>,
}

impl ReplyDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet consumed by a complete reply (whitespace included).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete reply, `Ok(None)` if more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ProtocolError> {
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        match stream.next() {
            None => {
                // Only whitespace so far.
                self.buf.clear();
                Ok(None)
            }
            Some(Ok(value)) => {
                let used = stream.byte_offset();
                self.buf.drain(..used);
                Reply::from_value(&value).map(Some)
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(ProtocolError::NotJson(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape_is_exact() {
        let cases: &[(&str, &[&str], u64, &str)] = &[
            (
                "ovsdb-server/sync-status",
                &[],
                0,
                r#"{"method":"ovsdb-server/sync-status","params":[],"id":0}"#,
            ),
            (
                "ovsdb-server/set-active-ovsdb-server",
                &["tcp:192.0.2.1:6641"],
                7,
                r#"{"method":"ovsdb-server/set-active-ovsdb-server","params":["tcp:192.0.2.1:6641"],"id":7}"#,
            ),
            (
                "x",
                &["a\"b", "c\\d", "é\n"],
                u64::MAX,
                r#"{"method":"x","params":["a\"b","c\\d","é\n"],"id":18446744073709551615}"#,
            ),
        ];
        for (method, params, id, want) in cases {
            let got = String::from_utf8(encode_request(method, params, *id)).unwrap();
            assert_eq!(&got, want);
            // Exactly three members.
            let v: Value = serde_json::from_str(&got).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 3);
        }
    }

    #[test]
    fn replies_parse() {
        let cases: &[(&str, Result<Reply, ProtocolError>)] = &[
            (
                r#"{"id":3,"result":"state: active\n","error":null}"#,
                Ok(Reply {
                    id: 3,
                    outcome: Ok("state: active\n".into()),
                }),
            ),
            (
                r#"{"result":"","id":0}"#,
                Ok(Reply {
                    id: 0,
                    outcome: Ok(String::new()),
                }),
            ),
            (
                r#"{"id":4,"error":"\"nope\" is not a valid command"}"#,
                Ok(Reply {
                    id: 4,
                    outcome: Err("\"nope\" is not a valid command".into()),
                }),
            ),
            (
                r#"{"id":5,"error":{"details":"x"}}"#,
                Ok(Reply {
                    id: 5,
                    outcome: Err(r#"{"details":"x"}"#.into()),
                }),
            ),
            (r#"{"result":"x"}"#, Err(ProtocolError::MissingId)),
            (r#"{"id":"1","result":"x"}"#, Err(ProtocolError::MissingId)),
            (r#"{"id":1,"error":null}"#, Err(ProtocolError::NoResult)),
            (r#"{"id":1,"result":null}"#, Err(ProtocolError::NoResult)),
            (r#"[1,2]"#, Err(ProtocolError::NotObject)),
        ];
        for (text, want) in cases {
            assert_eq!(&Reply::parse(text), want, "{text}");
        }
        assert!(matches!(Reply::parse("{"), Err(ProtocolError::NotJson(_))));
    }

    #[test]
    fn decoder_handles_undelimited_and_split_replies() {
        let stream = concat!(
            r#"{"id":1,"result":"a\n","error":null}"#,
            r#"{"id":2,"error":"bad"}"#,
            "\n  ",
            r#"{"id":3,"result":"{\"not\":\"nested\"}","error":null}"#
        );
        let want = vec![
            Reply {
                id: 1,
                outcome: Ok("a\n".into()),
            },
            Reply {
                id: 2,
                outcome: Err("bad".into()),
            },
            Reply {
                id: 3,
                outcome: Ok(r#"{"not":"nested"}"#.into()),
            },
        ];
        // Every chunk size, including one byte at a time.
        for chunk in 1..=stream.len() {
            let mut dec = ReplyDecoder::new();
            let mut got = Vec::new();
            for piece in stream.as_bytes().chunks(chunk) {
                dec.push(piece);
                while let Some(r) = dec.next_reply().unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got, want, "chunk size {chunk}");
            assert_eq!(dec.next_reply().unwrap(), None);
        }
    }

    #[test]
    fn decoder_rejects_garbage() {
        let mut dec = ReplyDecoder::new();
        dec.push(b"}{");
        assert!(matches!(dec.next_reply(), Err(ProtocolError::NotJson(_))));
    }
}
