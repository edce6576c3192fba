//! What a new client session sent before its server answered anything, and whether it may be
//! sent again to a restarted server (pure).
//!
//! After a crash the proxy nudges each IDL client, which reconnects at once (`reconnect_nudge`).
//! A new session can still reach the dying server: the proxy's connection is queued on its
//! listening socket, and the server's end comes before any answer. Passed on to the client,
//! that end costs it the 1 s backoff the nudge was to spare it. A server that answered nothing
//! kept no state of the session that outlives it, so the proxy may join the session to the
//! restarted server and send it the same requests — unless one of them was a `transact`,
//! which the dead server may have committed: sent again, it could be written twice.

use crate::jsonrpc_frame::Tap;

/// Most bytes kept for a replay; a session that sent more before any answer is not replayed.
pub const LIMIT: usize = 64 * 1024;

/// Most replays of one session (a server that closes it deliberately is not asked forever).
pub const MAX_REPLAYS: u32 = 3;

/// The client's bytes of one session while its server has answered nothing.
#[derive(Debug, Default)]
pub struct Unanswered {
    sent: Vec<u8>,
    tap: Tap,
    /// A transact was sent, the bytes outgrew [`LIMIT`], or the server answered.
    spoilt: bool,
    replays: u32,
}

impl Unanswered {
    /// The client sent `bytes` (forwarded to the server as well).
    pub fn client_sent(&mut self, bytes: &[u8]) {
        if self.spoilt {
            return;
        }
        let transacts = self
            .tap
            .feed(bytes, |m| contains(m, b"transact"))
            .iter()
            .any(|m| is_transact(m));
        if transacts || self.tap.broken() || self.sent.len() + bytes.len() > LIMIT {
            self.spoil();
        } else {
            self.sent.extend_from_slice(bytes);
        }
    }

    /// The server sent something: the session has state on it from now on.
    pub fn server_answered(&mut self) {
        self.spoil();
    }

    /// The server's side ended before it answered: the bytes to send a restarted server (maybe
    /// none yet), or `None` when the session must end instead. Counts as one replay.
    pub fn replay(&mut self) -> Option<&[u8]> {
        if self.spoilt || self.replays >= MAX_REPLAYS {
            return None;
        }
        self.replays += 1;
        Some(&self.sent)
    }

    fn spoil(&mut self) {
        self.spoilt = true;
        self.sent = Vec::new();
    }
}

/// Whether a complete message is a `transact` request (or cannot be read, which counts as one).
fn is_transact(msg: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(msg).map_or(true, |v| {
        v.get("method").and_then(|m| m.as_str()) == Some("transact")
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &[u8] = br#"{"id":1,"method":"get_schema","params":["OVN_Northbound"]}"#;
    const MONITOR: &[u8] = br#"{"id":2,"method":"monitor_cond_since","params":["OVN_Northbound",["m"],{"Logical_Switch":[{"columns":["name"]}]},"00000000-0000-0000-0000-000000000000"]}"#;
    const TRANSACT: &[u8] =
        br#"{"id":3,"method":"transact","params":["OVN_Northbound",{"op":"insert","table":"Logical_Switch","row":{}}]}"#;

    #[test]
    fn requests_without_a_transact_are_replayed_whole_up_to_three_times() {
        let mut u = Unanswered::default();
        u.client_sent(SCHEMA);
        u.client_sent(&MONITOR[..20]);
        let want = [SCHEMA, &MONITOR[..20]].concat();
        for _ in 0..MAX_REPLAYS {
            assert_eq!(u.replay(), Some(&want[..]));
        }
        assert_eq!(u.replay(), None, "a server that keeps closing the session");
    }

    #[test]
    fn a_session_that_sent_nothing_yet_is_rejoined_with_nothing_to_send() {
        assert_eq!(Unanswered::default().replay(), Some(&[][..]));
    }

    #[test]
    fn no_replay_after_a_transact_an_answer_or_too_many_bytes() {
        // A transact split across reads, with a request after it.
        let mut t = Unanswered::default();
        t.client_sent(SCHEMA);
        t.client_sent(&TRANSACT[..30]);
        t.client_sent(&[&TRANSACT[30..], MONITOR].concat());
        assert_eq!(t.replay(), None);

        let mut a = Unanswered::default();
        a.client_sent(SCHEMA);
        a.server_answered();
        a.client_sent(MONITOR);
        assert_eq!(a.replay(), None);

        let mut big = Unanswered::default();
        big.client_sent(&[b' '; LIMIT + 1]);
        assert_eq!(big.replay(), None);

        let mut garbage = Unanswered::default();
        garbage.client_sent(b"GET / HTTP/1.1");
        assert_eq!(
            garbage.replay(),
            None,
            "what is not JSON-RPC cannot be checked"
        );
    }

    #[test]
    fn an_unfinished_transact_is_replayed_as_the_server_never_had_it_whole() {
        let mut u = Unanswered::default();
        u.client_sent(&TRANSACT[..TRANSACT.len() - 1]);
        assert_eq!(u.replay(), Some(&TRANSACT[..TRANSACT.len() - 1]));
        // The rest goes to the restarted server; it completes a transact: no further replay.
        u.client_sent(&TRANSACT[TRANSACT.len() - 1..]);
        assert_eq!(u.replay(), None);
    }

    #[test]
    fn a_message_that_names_transact_without_being_one_is_replayed() {
        let mut u = Unanswered::default();
        let lock = br#"{"id":"transact","method":"lock","params":["ovn_northd"]}"#;
        u.client_sent(lock);
        assert_eq!(u.replay(), Some(&lock[..]));
    }
}
