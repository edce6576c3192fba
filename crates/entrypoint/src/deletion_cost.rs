//! The pod-deletion cost of a DB pod (pure): which pod a rolling update replaces last.
//!
//! A ReplicaSet that scales down deletes its pods with the lowest
//! `controller.kubernetes.io/pod-deletion-cost` first (Kubernetes 1.22 and later; unset is 0).
//! The rendered Deployment rolls with `maxSurge: 0`, so `kubectl set image` scales the old
//! ReplicaSet down one pod at a time. The entrypoint of the node holding the promoted copy
//! keeps [`ACTIVE_COST`] on its own pod and every other entrypoint removes it from its own, so
//! the standbys are replaced first and the active last: one switchover per rolling update, the
//! order `cargo xtask deploy --upgrade-suite` follows on the local cluster. The cost only
//! orders deletions; a pod whose annotation could not be written is replaced in the
//! controller's own order, which is still safe (the schema moves only once every pod runs the
//! new image), at the price of more switchovers.

use serde_json::{Value, json};

/// The annotation the ReplicaSet controller reads.
pub const ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";
/// The active's cost (any value above the standbys' 0 would do).
pub const ACTIVE_COST: &str = "1000";

/// The JSON merge patch that sets (promoted) or removes (not) the cost on a pod.
pub fn merge_patch(promoted: bool) -> Value {
    let value = if promoted {
        Value::from(ACTIVE_COST)
    } else {
        Value::Null
    };
    json!({"metadata": {"annotations": {ANNOTATION: value}}})
}

/// The cost a pod object carries (`None` when unset).
pub fn cost_of(pod: &Value) -> Option<&str> {
    pod["metadata"]["annotations"][ANNOTATION].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_sets_its_cost_and_a_standby_removes_it() {
        assert_eq!(
            merge_patch(true),
            json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": "1000"}}})
        );
        assert_eq!(
            merge_patch(false),
            json!({"metadata": {"annotations": {"controller.kubernetes.io/pod-deletion-cost": null}}})
        );
    }

    #[test]
    fn the_cost_is_read_back_from_a_pod() {
        let mut pod = json!({"metadata": {"name": "ovnkube-db-1"}});
        assert_eq!(cost_of(&pod), None);
        pod["metadata"]["annotations"] = json!({ANNOTATION: "1000"});
        assert_eq!(cost_of(&pod), Some("1000"));
    }
}
