//! Why this pod's Pacemaker stopped for good at start, when its controller refused to join a
//! DC with a newer feature set. Pacemaker runs rolling upgrades one way only: a node older than
//! the DC may not join ("Local feature set (3.16.1) is incompatible with DC's (3.20.0)"), and
//! pacemakerd then stays down. That is what a rollback meets at its first pod; [`advice`] says
//! what to do instead. [`older_than_dc`] reads pacemaker's log text; both are pure.

/// The local and the DC's feature sets, if `log` holds the controller's refusal.
pub fn older_than_dc(log: &str) -> Option<(String, String)> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("Local feature set (") && l.contains("incompatible with DC's ("))?;
    let between = |from: &str| -> Option<String> {
        let rest = &line[line.find(from)? + from.len()..];
        Some(rest[..rest.find(')')?].to_string())
    };
    Some((between("Local feature set (")?, between("DC's (")?))
}

/// The log line for an operator: what happened and the fix.
pub fn advice(local: &str, dc: &str) -> String {
    format!(
        "this pod's Pacemaker (feature set {local}) is older than the cluster's DC ({dc}), and \
         Pacemaker does not let an older node join: a rollback to an older image cannot go pod \
         by pod. The other copies keep serving. Roll every DB pod back at once: scale the \
         Deployment ovnkube-db to 0, set the older image, scale it back (the databases stay, \
         on their newer schema)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_found_with_both_feature_sets() {
        let log = "Dec 07 21:21:57.925 h2 pacemaker-based [53] (cib_perform_op) error: Discarding update with feature set '3.20.0' greater than our own '3.16.1'\n\
                   Dec 07 21:21:58.001 h2 pacemaker-controld [107] (verify_feature_set) error: Local feature set (3.16.1) is incompatible with DC's (3.20.0)\n\
                   Dec 07 21:21:58.001 h2 pacemaker-controld [107] (crmd_exit) notice: Forcing immediate exit with status 100\n";
        assert_eq!(
            older_than_dc(log),
            Some(("3.16.1".to_string(), "3.20.0".to_string()))
        );
        assert_eq!(
            older_than_dc("pacemaker-controld exited with status 1"),
            None
        );
        assert_eq!(older_than_dc(""), None);
        let a = advice("3.16.1", "3.20.0");
        assert!(a.contains("is older than the cluster's DC (3.20.0)"));
        assert!(a.contains("scale the Deployment ovnkube-db to 0"));
    }
}
