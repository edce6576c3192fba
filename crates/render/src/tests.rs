//! Renders the seed configuration and checks the objects one by one, parsed back as YAML.

use super::*;
use ovn_ha_config::{RenderInput, db_env};
use serde_json::Value;

pub(crate) fn seed_config() -> Config {
    RenderInput::seed_example().validate().unwrap().config
}

/// Every object of every file, parsed back.
fn objects(files: &[RenderedFile]) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for f in files {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&f.contents).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        for v in docs {
            if !v.is_null() {
                out.push((f.name, v));
            }
        }
    }
    out
}

/// Every object rendered from `input` (validated) with a fixed authkey and no TLS.
fn objects_of(input: &RenderInput) -> Vec<(&'static str, Value)> {
    let config = input.validate().unwrap().config;
    objects(&render_all(&config, Some(&[7u8; AUTHKEY_LEN]), None).unwrap())
}

fn find<'a>(objs: &'a [(&str, Value)], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .map(|(_, v)| v)
        .find(|v| v["kind"] == kind && v["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn env_of(container: &Value) -> Vec<(String, Value)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env_of(container)
        .into_iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, e)| e["value"].as_str().map(str::to_string))
}

#[test]
fn four_files_in_apply_order() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let names: Vec<_> = files.iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "ovn-setup.yaml",
            "ovnkube-db-ha.yaml",
            "ovnkube-master.yaml",
            "ovnkube-node.yaml"
        ]
    );
    assert!(files[0].secret && !files[1].secret);
    for f in &files {
        assert!(!f.contents.contains('\t'), "{} has a TAB", f.name);
        assert!(f.contents.ends_with('\n') && !f.contents.ends_with("\n\n"));
    }
}

#[test]
fn every_object_is_labelled() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let objs = objects(&files);
    assert_eq!(objs.len(), 22);
    for (file, o) in &objs {
        let labels = &o["metadata"]["labels"];
        for key in [
            "app.kubernetes.io/name",
            "app.kubernetes.io/component",
            "app.kubernetes.io/part-of",
        ] {
            assert!(labels[key].is_string(), "{file}: {} lacks {key}", o["kind"]);
        }
        if o["kind"] != "Namespace" && !o["kind"].as_str().unwrap().starts_with("Cluster") {
            assert_eq!(
                o["metadata"]["namespace"], "ovn-kubernetes",
                "{file}: {}",
                o["kind"]
            );
        }
    }
}

#[test]
fn db_service_is_headless_without_selector_and_points_at_the_vip() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let objs = objects(&files);
    let svc = find(&objs, "Service", "ovnkube-db");
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert!(svc["spec"].get("selector").is_none());
    let ports: Vec<_> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["port"].as_u64().unwrap()))
        .collect();
    assert_eq!(ports, [("north", 6641), ("south", 6642)]);
    let slice = find(&objs, "EndpointSlice", "ovnkube-db-vip");
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "ovnkube-db"
    );
    assert_eq!(slice["endpoints"][0]["addresses"][0], "10.0.2.100");
    let ep = find(&objs, "Endpoints", "ovnkube-db");
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "10.0.2.100");
}

#[test]
fn rbac_is_least_privilege() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let objs = objects(&files);
    for (_, o) in &objs {
        if o["kind"] == "ClusterRoleBinding" || o["kind"] == "RoleBinding" {
            assert_ne!(o["roleRef"]["name"], "cluster-admin");
            assert_ne!(o["roleRef"]["name"], "admin");
        }
        for rule in o["rules"].as_array().into_iter().flatten() {
            for list in ["verbs", "resources", "apiGroups"] {
                for item in rule[list].as_array().unwrap() {
                    assert_ne!(item, "*", "wildcard {list} in {}", o["metadata"]["name"]);
                }
            }
        }
    }
    let db_role = find(&objs, "Role", "ovnkube-db");
    assert_eq!(
        db_role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]}])
    );
}

#[test]
fn db_deployment_matches_the_contract() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let objs = objects(&files);
    let d = find(&objs, "Deployment", "ovnkube-db");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 0);
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["nodeSelector"]["openvswitch.org/ovnkube-db"], "true");
    let anti =
        &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        anti["labelSelector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "ghcr.io/ovndb-ha/ovn-daemonset:latest");
    assert_eq!(c["command"], serde_json::json!(["/usr/bin/ovnkube-db-ha"]));
    assert_eq!(c["args"], serde_json::json!(["run"]));
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"], false);
    assert_eq!(
        sc["capabilities"]["add"],
        serde_json::json!(["NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_NICE"])
    );
    assert!(!sc.to_string().contains("SYS_RESOURCE"));
    // The entrypoint's environment is exactly the contract of ovn_ha_config::db_env.
    let names: Vec<String> = env_of(c).into_iter().map(|(n, _)| n).collect();
    let want: Vec<&str> = db_env::RENDERED
        .iter()
        .copied()
        .filter(|n| *n != db_env::VIP_PREFIX)
        .collect();
    assert_eq!(names, want);
    assert_eq!(env_value(c, db_env::VIP).as_deref(), Some("10.0.2.100"));
    let selector = env_value(c, db_env::PEER_SELECTOR).unwrap();
    for pair in selector.split(',') {
        let (k, v) = pair.split_once('=').unwrap();
        assert_eq!(d["spec"]["template"]["metadata"]["labels"][k], v);
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        let cmd = &c[probe]["exec"]["command"];
        assert_eq!(cmd[0], "/usr/bin/ovnkube-db-ha");
        assert_eq!(cmd[1], "probe");
    }
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let handover: u64 = env_value(c, db_env::GRACE_SECONDS)
        .unwrap()
        .parse()
        .unwrap();
    assert!(handover < grace);
    let vols = pod["volumes"].as_array().unwrap();
    let db = vols.iter().find(|v| v["name"] == "ovn-db").unwrap();
    assert_eq!(db["hostPath"]["path"], "/var/lib/ovn");
    let key = vols
        .iter()
        .find(|v| v["name"] == "corosync-authkey")
        .unwrap();
    assert_eq!(key["secret"]["secretName"], db_env::AUTHKEY_SECRET);
    let pdb = find(&objs, "PodDisruptionBudget", "ovnkube-db");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(c["resources"]["limits"]["memory"], "1Gi");
    assert_eq!(c["resources"]["requests"]["memory"], "256Mi");
}

#[test]
fn the_db_memory_limit_is_the_flags() {
    let mut input = ovn_ha_config::RenderInput::seed_example();
    input.db_memory_limit = "6Gi".into();
    let objs = objects_of(&input);
    let d = find(&objs, "Deployment", "ovnkube-db");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["memory"], "6Gi");
}

#[test]
fn vip_reaches_master_and_node_env() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let objs = objects(&files);
    let master = find(&objs, "Deployment", "ovnkube-master");
    let node = find(&objs, "DaemonSet", "ovnkube-node");
    let mut seen = 0;
    for w in [master, node] {
        for c in w["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
        {
            if env_value(c, "OVN_NORTH").is_some() {
                assert_eq!(
                    env_value(c, "OVN_NORTH").as_deref(),
                    Some("tcp:10.0.2.100:6641")
                );
                assert_eq!(
                    env_value(c, "OVN_SOUTH").as_deref(),
                    Some("tcp:10.0.2.100:6642")
                );
                assert_eq!(c["image"], "docker.io/ovnkube/ovn-daemonset-u:latest");
                seen += 1;
            }
        }
    }
    assert_eq!(
        seen, 5,
        "northd, nbctl-daemon, ovnkube-master, ovn-controller, ovnkube-node"
    );
    let names: Vec<_> = master["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"ovn-northd"));
}

#[test]
fn ipv6_vip_is_bracketed_and_prefix_rendered() {
    let mut input = RenderInput {
        db_vip: Some("fd00:1::64/64".into()),
        ..RenderInput::default()
    };
    input.net_cidr = "fd00:10:128::/48/64".into();
    input.svc_cidr = "fd00:172:30::/112".into();
    let objs = objects_of(&input);
    let node = find(&objs, "DaemonSet", "ovnkube-node");
    let c = &node["spec"]["template"]["spec"]["containers"][1];
    assert_eq!(
        env_value(c, "OVN_NORTH").as_deref(),
        Some("tcp:[fd00:1::64]:6641")
    );
    let svc = find(&objs, "Service", "ovnkube-db");
    assert_eq!(svc["spec"]["ipFamilies"][0], "IPv6");
    let d = find(&objs, "Deployment", "ovnkube-db");
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_value(c, db_env::VIP_PREFIX).as_deref(), Some("64"));
}

#[test]
fn authkey_is_in_the_secret_and_checked() {
    let key: Vec<u8> = (0..=255).collect();
    let files = render_all(&seed_config(), Some(&key), None).unwrap();
    let objs = objects(&files);
    let secret = find(&objs, "Secret", db_env::AUTHKEY_SECRET);
    use base64::Engine;
    let b64 = secret["data"][db_env::AUTHKEY_KEY].as_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(decoded, key);
    assert!(matches!(
        render_all(&seed_config(), Some(&[0u8; 16]), None),
        Err(RenderError::AuthkeyLength(16))
    ));
}

#[test]
fn authkey_secret_can_be_left_out() {
    let files = render_all(&seed_config(), None, None).unwrap();
    let objs = objects(&files);
    assert!(!objs.iter().any(|(_, o)| o["kind"] == "Secret"));
    assert_eq!(objs.len(), 21);
    assert!(
        files[0].contents.contains(
            "kubectl -n ovn-kubernetes create secret generic ovnkube-db-corosync-authkey"
        )
    );
}

#[test]
fn write_is_all_or_nothing() {
    let files = render_all(&seed_config(), Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("yaml");
    write_atomically(&out, &files).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |n: &str| std::fs::metadata(out.join(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("ovn-setup.yaml"), 0o600);
    assert_eq!(mode("ovnkube-node.yaml"), 0o644);
    // A second write replaces the files; no staging directory is left behind.
    write_atomically(&out, &files).unwrap();
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
    // A file where the directory should be: an error, and nothing written.
    let blocked = tmp.path().join("file");
    std::fs::write(&blocked, "x").unwrap();
    assert!(matches!(
        write_atomically(&blocked, &files),
        Err(WriteError::NotADirectory(_))
    ));
}

/// `--ssl`: the two TLS Secrets with upstream's file names, `OVN_SSL_ENABLE=yes` and `ssl:` at
/// the VIP for every pod, the DB pods' Secret at /ovn-cert, and upstream's `host-ovn-cert`
/// volume turned into the client Secret (on nodes without ovn-northd's key).
#[test]
#[cfg(feature = "pki")]
fn ssl_renders_the_secrets_and_mounts_them_where_upstream_reads_them() {
    let mut input = RenderInput::seed_example();
    input.upstream.ssl = true;
    let config = input.validate().unwrap().config;
    let pki = crate::pki::generate().unwrap();
    let files = render_all(&config, Some(&[7u8; AUTHKEY_LEN]), Some(&pki)).unwrap();
    let objs = objects(&files);
    let db_secret = find(&objs, "Secret", crate::pki::DB_SECRET);
    let keys = |s: &Value| {
        s["data"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(db_secret),
        [
            "ca-cert.pem",
            "ovnnb-cert.pem",
            "ovnnb-privkey.pem",
            "ovnsb-cert.pem",
            "ovnsb-privkey.pem"
        ]
    );
    let client_secret = find(&objs, "Secret", crate::pki::CLIENT_SECRET);
    assert_eq!(keys(client_secret).len(), 5);
    // Read back, the Secrets are the material given.
    let secrets = crate::secrets::parse(&files[0].contents).unwrap();
    assert_eq!(crate::pki::from_secrets(&secrets).unwrap(), Some(pki));

    let db = find(&objs, "Deployment", "ovnkube-db");
    let pod = &db["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(env_value(c, db_env::SSL_ENABLE).as_deref(), Some("yes"));
    assert!(
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "ovn-cert" && m["mountPath"] == "/ovn-cert")
    );
    let volume = |pod: &Value, name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    assert_eq!(
        volume(pod, "ovn-cert")["secret"]["secretName"],
        crate::pki::DB_SECRET
    );
    for (kind, name) in [
        ("Deployment", "ovnkube-master"),
        ("DaemonSet", "ovnkube-node"),
    ] {
        let pod = &find(&objs, kind, name)["spec"]["template"]["spec"];
        let v = volume(pod, "host-ovn-cert");
        assert_eq!(
            v["secret"]["secretName"],
            crate::pki::CLIENT_SECRET,
            "{name}"
        );
        assert!(v.get("hostPath").is_none(), "{name}");
        for c in pod["containers"].as_array().unwrap() {
            if let Some(ssl) = env_value(c, "OVN_SSL_ENABLE") {
                assert_eq!(ssl, "yes", "{name}");
            }
            if let Some(north) = env_value(c, "OVN_NORTH") {
                assert!(north.starts_with("ssl:"), "{name}: {north}");
            }
        }
    }
    let node = &find(&objs, "DaemonSet", "ovnkube-node")["spec"]["template"]["spec"];
    let items: Vec<_> = volume(node, "host-ovn-cert")["secret"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(items, crate::pki::NODE_FILES);
}

/// `--ssl` with the Secrets left out (published manifests): no key material, the pods still
/// mount the Secrets, and ovn-setup.yaml says what to create.
#[test]
fn ssl_without_the_secrets_says_what_to_create() {
    let mut input = RenderInput::seed_example();
    input.upstream.ssl = true;
    let config = input.validate().unwrap().config;
    let files = render_all(&config, None, None).unwrap();
    let objs = objects(&files);
    assert!(!objs.iter().any(|(_, o)| o["kind"] == "Secret"));
    assert!(files[0].contents.contains("ovnnb-privkey.pem"));
    let db = find(&objs, "Deployment", "ovnkube-db");
    assert!(
        db["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == crate::pki::DB_SECRET)
    );
}
