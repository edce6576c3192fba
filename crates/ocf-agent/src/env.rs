//! The OCF environment as a plain map, with typed accessors (pure: tests build it from pairs).

use std::collections::HashMap;

/// The role Pacemaker expects for a recurring monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRole {
    /// `Promoted` (or the old `Master`).
    Promoted,
    /// `Unpromoted` (or the old `Slave`).
    Unpromoted,
}

/// The agent's environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment (non-UTF-8 variables are skipped).
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// An environment from pairs (tests).
    #[cfg(test)]
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// Sets a variable (used to derive a fallback configuration).
    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// A raw variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `OCF_RESKEY_<name>`, `None` when unset or blank (as `${x:-default}` treats it).
    pub fn reskey(&self, name: &str) -> Option<&str> {
        self.var(&format!("OCF_RESKEY_{name}"))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// `OCF_RESKEY_CRM_meta_<name>`, untrimmed (notify lists use a single space for "empty").
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.var(&format!("OCF_RESKEY_CRM_meta_{name}"))
    }

    /// The operation interval in ms (0 for a probe or a one-shot action).
    pub fn interval_ms(&self) -> u64 {
        self.meta("interval")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The operation timeout in ms, if given.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.meta("timeout").and_then(|v| v.trim().parse().ok())
    }

    /// The role of a recurring monitor, if Pacemaker said.
    pub fn expected_role(&self) -> Option<ExpectedRole> {
        match self.meta("role").map(str::trim) {
            Some("Promoted" | "Master") => Some(ExpectedRole::Promoted),
            Some("Unpromoted" | "Slave") => Some(ExpectedRole::Unpromoted),
            _ => None,
        }
    }

    /// `OCF_RESOURCE_INSTANCE`, or the agent name when unset.
    pub fn instance(&self) -> &str {
        self.var("OCF_RESOURCE_INSTANCE")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or("ovndb-servers")
    }

    /// The node the action runs on, when Pacemaker says.
    pub fn on_node(&self) -> Option<&str> {
        self.meta("on_node")
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// True when `HA_debug` is set to something other than 0.
    pub fn debug(&self) -> bool {
        self.var("HA_debug")
            .is_some_and(|v| !v.trim().is_empty() && v.trim() != "0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let env = Env::from_pairs([
            ("OCF_RESKEY_master_ip", " 192.0.2.1 "),
            ("OCF_RESKEY_nb_master_port", ""),
            ("OCF_RESKEY_CRM_meta_interval", "1000"),
            ("OCF_RESKEY_CRM_meta_timeout", "20000"),
            ("OCF_RESKEY_CRM_meta_role", "Slave"),
            ("OCF_RESOURCE_INSTANCE", "ovndb_servers:1"),
            ("OCF_RESKEY_CRM_meta_on_node", "node-a"),
            ("HA_debug", "1"),
        ]);
        assert_eq!(env.reskey("master_ip"), Some("192.0.2.1"));
        assert_eq!(env.reskey("nb_master_port"), None);
        assert_eq!(env.reskey("missing"), None);
        assert_eq!(env.interval_ms(), 1000);
        assert_eq!(env.timeout_ms(), Some(20000));
        assert_eq!(env.expected_role(), Some(ExpectedRole::Unpromoted));
        assert_eq!(env.instance(), "ovndb_servers:1");
        assert_eq!(env.on_node(), Some("node-a"));
        assert!(env.debug());
    }

    #[test]
    fn roles_both_spellings() {
        let cases = [
            ("Promoted", Some(ExpectedRole::Promoted)),
            ("Master", Some(ExpectedRole::Promoted)),
            ("Unpromoted", Some(ExpectedRole::Unpromoted)),
            ("Slave", Some(ExpectedRole::Unpromoted)),
            ("Started", None),
            ("", None),
        ];
        for (v, want) in cases {
            let env = Env::from_pairs([("OCF_RESKEY_CRM_meta_role", v)]);
            assert_eq!(env.expected_role(), want, "{v}");
        }
        assert_eq!(Env::default().expected_role(), None);
    }

    #[test]
    fn defaults() {
        let env = Env::default();
        assert_eq!(env.interval_ms(), 0);
        assert_eq!(env.timeout_ms(), None);
        assert_eq!(env.instance(), "ovndb-servers");
        assert!(!env.debug());
        let env = Env::from_pairs([("HA_debug", "0"), ("OCF_RESKEY_CRM_meta_interval", "x")]);
        assert!(!env.debug());
        assert_eq!(env.interval_ms(), 0);
    }
}
