//! The message that makes an OVSDB IDL client reconnect at once instead of after its backoff
//! (pure).
//!
//! OVS's IDL clients (the C `ovsdb-cs` of ovn-northd, ovn-controller and ovn-nbctl's daemon;
//! python-ovs' `Idl` of ovsdbapp) wait 1 s before reconnecting after a session that was up
//! drops. They skip that wait when they drop the session themselves because the server's
//! `_Server` database no longer lists their database: that is how they leave a clustered
//! server that lost its leader, and they reset their backoff for it (`ovsdb_cs_force_reconnect`,
//! python `Idl.force_reconnect`, OVS 3.1). When the local server dies under a client session
//! and is restarted in place, the proxy tells the client exactly that, on the client's own
//! `_Server` monitor: every `Database` row it was sent is deleted. The client then reconnects
//! at once, and the proxy joins the new session to the restarted server.
//!
//! [`ServerMonitor`] follows one session's messages: the client's `_Server` monitor request,
//! the server's reply and updates on that monitor (the `Database` rows the client holds). Its
//! [`ServerMonitor::nudge`] is the update to send; clients that never monitored `_Server` get
//! none and are simply disconnected as before.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The `_Server` monitor of one client session, as its messages showed it.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ServerMonitor {
    /// A monitor request sent and not yet answered: its request id, monitor id, version.
    pending: Option<(Value, Value, Version)>,
    /// The monitor in place: its id and version.
    monitor: Option<(Value, Version)>,
    /// The `Database` rows the client holds: uuid to database name.
    rows: BTreeMap<String, String>,
}

/// Which monitor method, so which update notification the client expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// `monitor`: `update` notifications with `old`/`new` rows.
    V1,
    /// `monitor_cond`: `update2` with `insert`/`modify`/`delete`.
    V2,
    /// `monitor_cond_since`: `update3`, as `update2` after a transaction id.
    V3,
}

impl Version {
    fn of_request(method: &str) -> Option<Self> {
        match method {
            "monitor" => Some(Self::V1),
            "monitor_cond" => Some(Self::V2),
            "monitor_cond_since" => Some(Self::V3),
            _ => None,
        }
    }

    fn of_update(method: &str) -> Option<Self> {
        match method {
            "update" => Some(Self::V1),
            "update2" => Some(Self::V2),
            "update3" => Some(Self::V3),
            _ => None,
        }
    }
}

/// Whether a client-to-server message is worth parsing for [`ServerMonitor::on_request`]: a
/// cheap byte test before any JSON parse.
pub fn may_concern_requests(msg: &[u8]) -> bool {
    contains(msg, b"\"_Server\"") || contains(msg, b"monitor_cancel")
}

/// Whether a server-to-client message is worth parsing for [`ServerMonitor::on_reply`].
pub fn may_concern_replies(msg: &[u8]) -> bool {
    contains(msg, b"\"Database\"")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl ServerMonitor {
    /// A message from the client.
    pub fn on_request(&mut self, msg: &Value) {
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            return;
        };
        let params = msg.get("params").and_then(Value::as_array);
        if method == "monitor_cancel" {
            if let (Some((id, _)), Some(p)) = (&self.monitor, params)
                && p.first() == Some(id)
            {
                self.monitor = None;
                self.rows.clear();
            }
            return;
        }
        let Some(version) = Version::of_request(method) else {
            return;
        };
        let Some(p) = params else { return };
        if p.first().and_then(Value::as_str) != Some("_Server") {
            return;
        }
        let (Some(monid), Some(id)) = (p.get(1), msg.get("id")) else {
            return;
        };
        self.pending = Some((id.clone(), monid.clone(), version));
    }

    /// A message from the server.
    pub fn on_reply(&mut self, msg: &Value) {
        if let Some((id, monid, version)) = &self.pending
            && msg.get("id") == Some(id)
            && msg.get("method").is_none()
        {
            let (monid, version) = (monid.clone(), *version);
            self.pending = None;
            if msg.get("error").is_some_and(|e| !e.is_null()) {
                return;
            }
            let Some(result) = msg.get("result") else {
                return;
            };
            let updates = match version {
                Version::V3 => result.get(2),
                Version::V1 | Version::V2 => Some(result),
            };
            self.monitor = Some((monid, version));
            self.rows.clear();
            if let Some(u) = updates {
                self.absorb(u, version);
            }
            return;
        }
        let Some((monid, version)) = &self.monitor else {
            return;
        };
        let Some(method) = msg.get("method").and_then(Value::as_str) else {
            return;
        };
        if Version::of_update(method) != Some(*version) {
            return;
        }
        let Some(p) = msg.get("params").and_then(Value::as_array) else {
            return;
        };
        if p.first() != Some(monid) {
            return;
        }
        let version = *version;
        let at = if version == Version::V3 { 2 } else { 1 };
        if let Some(u) = p.get(at) {
            self.absorb(u, version);
        }
    }

    /// Table updates on the `_Server` monitor: the `Database` rows added and removed.
    fn absorb(&mut self, updates: &Value, version: Version) {
        let Some(rows) = updates.get("Database").and_then(Value::as_object) else {
            return;
        };
        for (uuid, change) in rows {
            let new = match version {
                Version::V1 => change.get("new"),
                Version::V2 | Version::V3 => change
                    .get("initial")
                    .or_else(|| change.get("insert"))
                    .or_else(|| change.get("modify")),
            };
            let deleted = match version {
                Version::V1 => change.get("new").is_none(),
                Version::V2 | Version::V3 => change.get("delete").is_some(),
            };
            if deleted {
                self.rows.remove(uuid);
            } else if let Some(new) = new {
                let name = new.get("name").and_then(Value::as_str);
                match (self.rows.get_mut(uuid), name) {
                    (Some(n), Some(name)) => *n = name.to_owned(),
                    (Some(_), None) => {}
                    (None, name) => {
                        self.rows
                            .insert(uuid.clone(), name.unwrap_or_default().to_owned());
                    }
                }
            }
        }
    }

    /// The notification that deletes every `Database` row the client holds, when it has a
    /// `_Server` monitor with rows in it.
    pub fn nudge(&self) -> Option<Vec<u8>> {
        let (monid, version) = self.monitor.as_ref()?;
        if self.rows.is_empty() {
            return None;
        }
        let mut table = Map::new();
        for (uuid, name) in &self.rows {
            let change = match version {
                // A version-1 deletion is a row with `old` and no `new`; python-ovs refuses
                // an empty `old`.
                Version::V1 => json!({"old": {"name": name}}),
                Version::V2 | Version::V3 => json!({"delete": null}),
            };
            table.insert(uuid.clone(), change);
        }
        let updates = json!({ "Database": table });
        let (method, params) = match version {
            Version::V1 => ("update", json!([monid, updates])),
            Version::V2 => ("update2", json!([monid, updates])),
            Version::V3 => (
                "update3",
                json!([monid, "00000000-0000-0000-0000-000000000000", updates]),
            ),
        };
        serde_json::to_vec(&json!({"id": null, "method": method, "params": params})).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NB: &str = "4a5b2c9e-0000-4000-8000-000000000001";
    const SRV: &str = "4a5b2c9e-0000-4000-8000-000000000002";

    /// The C IDL's exchange: `monitor_cond` with `["monid","_Server"]`, `update2` later.
    fn c_idl() -> ServerMonitor {
        let mut m = ServerMonitor::default();
        m.on_request(&json!({"id": 3, "method": "monitor_cond",
            "params": ["_Server", ["monid", "_Server"], {"Database": [{"columns": ["name"]}]}]}));
        m.on_reply(&json!({"id": 3, "error": null, "result": {"Database": {
            NB: {"initial": {"name": "OVN_Northbound", "model": "standalone"}},
            SRV: {"initial": {"name": "_Server", "model": "standalone"}}}}}));
        m
    }

    #[test]
    fn c_idl_gets_update2_deleting_every_database_row() {
        let m = c_idl();
        let nudge: Value = serde_json::from_slice(&m.nudge().unwrap()).unwrap();
        assert_eq!(
            nudge,
            json!({"id": null, "method": "update2", "params": [["monid", "_Server"],
                {"Database": {NB: {"delete": null}, SRV: {"delete": null}}}]})
        );
    }

    #[test]
    fn python_idl_gets_update_with_old_rows() {
        let mut m = ServerMonitor::default();
        m.on_request(&json!({"id": 7, "method": "monitor",
            "params": ["_Server", "6a1f", {"Database": [{"columns": ["name"]}]}]}));
        m.on_reply(&json!({"id": 7, "error": null,
            "result": {"Database": {NB: {"new": {"name": "OVN_Northbound"}}}}}));
        let nudge: Value = serde_json::from_slice(&m.nudge().unwrap()).unwrap();
        assert_eq!(
            nudge,
            json!({"id": null, "method": "update", "params": ["6a1f",
                {"Database": {NB: {"old": {"name": "OVN_Northbound"}}}}]})
        );
    }

    #[test]
    fn later_updates_on_the_monitor_add_and_remove_rows() {
        let mut m = c_idl();
        let other = "4a5b2c9e-0000-4000-8000-000000000003";
        m.on_reply(
            &json!({"id": null, "method": "update2", "params": [["monid", "_Server"],
            {"Database": {other: {"insert": {"name": "OVN_Southbound"}}, SRV: {"delete": null}}}]}),
        );
        // Another monitor's update, and a data update of the same shape, change nothing.
        m.on_reply(
            &json!({"id": null, "method": "update2", "params": [["monid", "OVN_Northbound"],
            {"Database": {NB: {"delete": null}}}]}),
        );
        let nudge: Value = serde_json::from_slice(&m.nudge().unwrap()).unwrap();
        assert_eq!(
            nudge["params"][1]["Database"],
            json!({NB: {"delete": null}, other: {"delete": null}})
        );
    }

    #[test]
    fn monitor_cond_since_reply_and_update3() {
        let mut m = ServerMonitor::default();
        m.on_request(&json!({"id": "a", "method": "monitor_cond_since",
            "params": ["_Server", "m", {}, "00000000-0000-0000-0000-000000000000"]}));
        m.on_reply(&json!({"id": "a", "error": null,
            "result": [false, "00000000-0000-0000-0000-000000000000",
                {"Database": {NB: {"initial": {"name": "OVN_Northbound"}}}}]}));
        let nudge: Value = serde_json::from_slice(&m.nudge().unwrap()).unwrap();
        assert_eq!(nudge["method"], "update3");
        assert_eq!(nudge["params"][0], "m");
        assert_eq!(nudge["params"][2]["Database"][NB], json!({"delete": null}));
    }

    #[test]
    fn no_nudge_without_a_server_monitor_or_after_its_cancel_or_error() {
        assert_eq!(ServerMonitor::default().nudge(), None);
        // A data monitor is not the `_Server` one.
        let mut data = ServerMonitor::default();
        data.on_request(&json!({"id": 1, "method": "monitor_cond",
            "params": ["OVN_Northbound", "x", {}]}));
        data.on_reply(
            &json!({"id": 1, "error": null, "result": {"Database": {NB: {"initial": {}}}}}),
        );
        assert_eq!(data.nudge(), None);
        let mut cancelled = c_idl();
        cancelled.on_request(&json!({"id": 9, "method": "monitor_cancel",
            "params": [["monid", "_Server"]]}));
        assert_eq!(cancelled.nudge(), None);
        let mut refused = ServerMonitor::default();
        refused.on_request(&json!({"id": 3, "method": "monitor_cond",
            "params": ["_Server", ["monid", "_Server"], {}]}));
        refused.on_reply(&json!({"id": 3, "error": "unknown method", "result": null}));
        assert_eq!(refused.nudge(), None);
    }

    #[test]
    fn the_byte_tests_pass_what_matters() {
        assert!(may_concern_requests(
            br#"{"method":"monitor","params":["_Server","x",{}],"id":1}"#
        ));
        assert!(!may_concern_requests(
            br#"{"method":"transact","params":["OVN_Northbound"],"id":2}"#
        ));
        assert!(may_concern_replies(br#"{"id":1,"result":{"Database":{}}}"#));
        assert!(!may_concern_replies(br#"{"id":2,"result":[{}]}"#));
    }
}
