//! The deployment plan built from a real render of the seed configuration: apply order,
//! waits, deletion order, the dry-run YAML and missing files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::seed_files;
use ovn_ha_deploy::Plan;
use ovn_ha_deploy::plan::FILES;

#[test]
fn apply_order_follows_dependencies() {
    let plan = Plan::from_files(&seed_files()).unwrap();
    let kinds: Vec<&str> = plan.stages[0].objects.iter().map(|o| o.kind.kind).collect();
    let mut dedup = kinds.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Secret",
            "Service",
            "EndpointSlice",
            "Endpoints",
            "Deployment",
            "PodDisruptionBudget"
        ]
    );
    assert!(plan.stages[0].wait_for_db);
    assert_eq!(
        plan.stages[1].objects[0].describe(),
        "Deployment ovn-kubernetes/ovnkube-master"
    );
    assert_eq!(
        plan.stages[2].objects[0].describe(),
        "DaemonSet ovn-kubernetes/ovnkube-node"
    );
    assert_eq!(plan.db.replicas, 3);
    assert_eq!(
        plan.db.node_label,
        ("openvswitch.org/ovnkube-db".into(), "true".into())
    );
    assert_eq!(plan.db.service, "ovnkube-db");
    let del = plan.deletion_order();
    assert_eq!(del.first().unwrap().kind.kind, "DaemonSet");
    assert_eq!(del.last().unwrap().kind.kind, "Namespace");
}

#[test]
fn dry_run_yaml_lists_every_object_in_order() {
    let plan = Plan::from_files(&seed_files()).unwrap();
    let yaml = plan.to_yaml().unwrap();
    assert_eq!(
        yaml.matches("\n---\n").count() + usize::from(yaml.starts_with("---")),
        plan.objects().count()
    );
    let ns = yaml.find("kind: Namespace").unwrap();
    let db = yaml.find("name: ovnkube-db\n").unwrap();
    let node = yaml.find("kind: DaemonSet").unwrap();
    assert!(ns < db && db < node);
    assert!(yaml.contains("# then wait until Deployment ovn-kubernetes/ovnkube-db is available"));
    // Strings a YAML 1.1 reader (kubectl's) takes for booleans stay quoted: OVN_SSL_ENABLE's
    // `no` printed bare would reach the API server as `false` and be refused as an env value.
    assert!(
        yaml.contains("value: \"no\"\n"),
        "OVN_SSL_ENABLE lost its quotes"
    );
    assert!(!yaml.contains("value: no\n"));
}

#[test]
fn missing_files_are_named() {
    let mut files = seed_files();
    files.retain(|(n, _)| n != FILES[2]);
    let err = Plan::from_files(&files).unwrap_err().to_string();
    assert!(
        err.contains("ovnkube-master.yaml") && err.contains("render"),
        "{err}"
    );
    let err = Plan::from_dir(std::path::Path::new("/nonexistent"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/ovn-setup.yaml"), "{err}");
}
