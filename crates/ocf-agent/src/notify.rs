//! The notification environment (`OCF_RESKEY_CRM_meta_notify_*`), parsed purely.
//!
//! Lists are space-separated; an empty list is the single string `" "`. Pacemaker 2.1 sets
//! both the new `promoted`/`unpromoted` and the old `master`/`slave` spellings; either is read.

use crate::env::Env;

/// `pre` or `post`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the operation.
    Pre,
    /// After the operation.
    Post,
}

/// The operation notified about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// start
    Start,
    /// stop
    Stop,
    /// promote
    Promote,
    /// demote
    Demote,
}

/// A parsed notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// pre/post (None if missing or unknown).
    pub phase: Option<Phase>,
    /// The operation (None if missing or unknown).
    pub operation: Option<Operation>,
    /// Nodes being started.
    pub start: Vec<String>,
    /// Nodes being stopped.
    pub stop: Vec<String>,
    /// Nodes being promoted.
    pub promote: Vec<String>,
    /// Nodes being demoted.
    pub demote: Vec<String>,
    /// Nodes where the resource is promoted.
    pub promoted: Vec<String>,
    /// Nodes where the resource is unpromoted.
    pub unpromoted: Vec<String>,
    /// Nodes where the resource is active.
    pub active: Vec<String>,
    /// Nodes where it is inactive.
    pub inactive: Vec<String>,
}

/// Splits a notify list; `" "` and unset are empty.
pub fn parse_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

impl Notify {
    /// Reads a notification from the environment.
    pub fn from_env(env: &Env) -> Self {
        let list = |name: &str| parse_list(env.meta(&format!("notify_{name}_uname")));
        let either = |new: &str, old: &str| {
            let v = list(new);
            if v.is_empty() { list(old) } else { v }
        };
        Self {
            phase: match env.meta("notify_type").map(str::trim) {
                Some("pre") => Some(Phase::Pre),
                Some("post") => Some(Phase::Post),
                _ => None,
            },
            operation: match env.meta("notify_operation").map(str::trim) {
                Some("start") => Some(Operation::Start),
                Some("stop") => Some(Operation::Stop),
                Some("promote") => Some(Operation::Promote),
                Some("demote") => Some(Operation::Demote),
                _ => None,
            },
            start: list("start"),
            stop: list("stop"),
            promote: list("promote"),
            demote: list("demote"),
            promoted: either("promoted", "master"),
            unpromoted: either("unpromoted", "slave"),
            active: list("active"),
            inactive: list("inactive"),
        }
    }

    /// True for the post-promote notification.
    pub fn is_post_promote(&self) -> bool {
        self.phase == Some(Phase::Post) && self.operation == Some(Operation::Promote)
    }

    /// True if `node` is being promoted in this transition.
    pub fn promotes(&self, node: &str) -> bool {
        self.promote.iter().any(|n| n == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        let cases: &[(Option<&str>, &[&str])] = &[
            (None, &[]),
            (Some(" "), &[]),
            (Some(""), &[]),
            (Some("a"), &["a"]),
            (Some("a b "), &["a", "b"]),
            (Some(" a  b\tc "), &["a", "b", "c"]),
        ];
        for (v, want) in cases {
            assert_eq!(parse_list(*v), want.to_vec(), "{v:?}");
        }
    }

    fn m(k: &str) -> String {
        format!("OCF_RESKEY_CRM_meta_{k}")
    }

    #[test]
    fn post_promote_new_spelling() {
        let keys: Vec<(String, &str)> = vec![
            (m("notify_type"), "post"),
            (m("notify_operation"), "promote"),
            (m("notify_promote_uname"), "node-b "),
            (m("notify_demote_uname"), " "),
            (m("notify_start_uname"), " "),
            (m("notify_stop_uname"), " "),
            (m("notify_promoted_uname"), " "),
            (m("notify_unpromoted_uname"), "node-a node-b node-c"),
            (m("notify_master_uname"), " "),
            (m("notify_slave_uname"), "node-a node-b node-c"),
            (m("notify_active_uname"), "node-a node-b node-c"),
            (m("notify_inactive_uname"), " "),
        ];
        let env = Env::from_pairs(keys.iter().map(|(k, v)| (k.as_str(), *v)));
        let n = Notify::from_env(&env);
        assert!(n.is_post_promote());
        assert!(n.promotes("node-b") && !n.promotes("node-a"));
        assert!(n.promoted.is_empty() && n.demote.is_empty() && n.inactive.is_empty());
        assert_eq!(n.unpromoted, vec!["node-a", "node-b", "node-c"]);
        assert_eq!(n.active.len(), 3);
    }

    #[test]
    fn old_spelling_only() {
        let keys: Vec<(String, &str)> = vec![
            (m("notify_type"), "pre"),
            (m("notify_operation"), "demote"),
            (m("notify_demote_uname"), "node-a"),
            (m("notify_master_uname"), "node-a"),
            (m("notify_slave_uname"), "node-b"),
        ];
        let env = Env::from_pairs(keys.iter().map(|(k, v)| (k.as_str(), *v)));
        let n = Notify::from_env(&env);
        assert_eq!(n.phase, Some(Phase::Pre));
        assert_eq!(n.operation, Some(Operation::Demote));
        assert!(!n.is_post_promote());
        assert_eq!(n.promoted, vec!["node-a"]);
        assert_eq!(n.unpromoted, vec!["node-b"]);
        assert_eq!(n.demote, vec!["node-a"]);
    }

    #[test]
    fn nothing_set_as_under_ocf_tester() {
        let n = Notify::from_env(&Env::default());
        assert_eq!(n, Notify::default());
        assert!(!n.is_post_promote());
        let env = Env::from_pairs([
            ("OCF_RESKEY_CRM_meta_notify_type", "sideways"),
            ("OCF_RESKEY_CRM_meta_notify_operation", "migrate"),
        ]);
        let n = Notify::from_env(&env);
        assert_eq!((n.phase, n.operation), (None, None));
    }
}
