//! One host's OCI runtime configuration (`config.json` for runc) from the pod template, as a
//! kubelet and container runtime would make it. Pure: the caller creates the directories
//! [`host_dirs`] lists and writes the returned JSON.

use crate::pod_template::{EnvSource, PodTemplate, VolumeSource};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The capabilities container runtimes grant by default (containerd's and CRI-O's set, which
/// Kubernetes pods get before `capabilities.add`).
pub const RUNTIME_DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Open-files limit container runtimes set.
pub const NOFILE: u64 = 1_048_576;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What differs from host to host.
#[derive(Debug, Clone)]
pub struct HostContext {
    pub node_name: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_ip: String,
    /// The host's network namespace (`/var/run/netns/NAME`); hostNetwork joins it.
    pub netns_path: PathBuf,
    /// The unpacked image's root filesystem, shared read-only by all hosts.
    pub rootfs: PathBuf,
    /// This host's directory: `node/` stands for the node's filesystem (hostPath volumes),
    /// `pod/<volume>` for disk-backed emptyDir volumes.
    pub host_dir: PathBuf,
    /// Directory of Secrets, one sub-directory of files per Secret name.
    pub secrets_dir: PathBuf,
    /// Extra variables (e.g. the static peer list), after the rendered ones.
    pub extra_env: Vec<(String, String)>,
    /// Extra bind mounts, after the pod's volumes (a benchmark swaps a file of the image).
    pub extra_mounts: Vec<ExtraMount>,
    /// Resource limits (see [`crate::limits`]).
    pub rlimits: crate::limits::Rlimits,
    /// The cgroup's real-time budget, where the kernel needs one (see [`crate::limits`]).
    pub realtime: Option<crate::limits::RealtimeBudget>,
}

/// A bind mount the pod template does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMount {
    /// Path on this machine (file or directory).
    pub source: PathBuf,
    /// Absolute path in the container; it must exist in the image.
    pub destination: String,
    pub read_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("env {name}: the local cluster cannot fill fieldRef {path}")]
    UnknownField { name: String, path: String },
    #[error("{0}: {1} is not a memory quantity like 256Mi")]
    BadQuantity(String, String),
    #[error("extra mount {0}: the destination must be an absolute path")]
    RelativeMount(String),
    #[error("the generated runtime configuration is not a valid OCI spec: {0}")]
    Invalid(String),
}

fn host_path_dir(h: &HostContext, path: &str) -> PathBuf {
    h.host_dir.join("node").join(path.trim_start_matches('/'))
}

fn empty_dir(h: &HostContext, volume: &str) -> PathBuf {
    h.host_dir.join("pod").join(volume)
}

/// The directories this host needs before the container starts (hostPath and emptyDir
/// volumes). Secret directories are the caller's to fill.
pub fn host_dirs(t: &PodTemplate, h: &HostContext) -> Vec<PathBuf> {
    t.volumes
        .iter()
        .filter_map(|v| match &v.source {
            VolumeSource::HostPath { path } => Some(host_path_dir(h, path)),
            VolumeSource::EmptyDir { memory: false, .. } => Some(empty_dir(h, &v.name)),
            _ => None,
        })
        .collect()
}

/// A Kubernetes memory quantity of `what` (a volume's sizeLimit, the container's limit) in bytes.
fn bytes(what: &str, q: &str) -> Result<u64, SpecError> {
    ovn_ha_config::quantity::parse_memory(q)
        .map(|m| m.bytes())
        .map_err(|_| SpecError::BadQuantity(what.into(), q.into()))
}

fn resolve_env(t: &PodTemplate, h: &HostContext) -> Result<Vec<String>, SpecError> {
    let mut env = vec![format!("PATH={PATH}"), format!("HOSTNAME={}", h.node_name)];
    for e in &t.env {
        let value = match &e.source {
            EnvSource::Value(v) => v.clone(),
            EnvSource::Field(path) => match path.as_str() {
                "spec.nodeName" => h.node_name.clone(),
                "metadata.name" => h.pod_name.clone(),
                "metadata.namespace" => h.pod_namespace.clone(),
                "status.podIP" | "status.hostIP" => h.pod_ip.clone(),
                _ => {
                    return Err(SpecError::UnknownField {
                        name: e.name.clone(),
                        path: path.clone(),
                    });
                }
            },
        };
        env.push(format!("{}={value}", e.name));
    }
    env.extend(h.extra_env.iter().map(|(k, v)| format!("{k}={v}")));
    Ok(env)
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": destination, "type": kind, "source": source, "options": options})
}

fn bind(destination: &str, source: &Path, read_only: bool) -> Value {
    let mut options = vec!["rbind", "rprivate"];
    if read_only {
        options.push("ro");
    }
    json!({"destination": destination, "type": "bind", "source": source, "options": options})
}

/// The mounts a runtime makes for every container, minus those a volume replaces.
fn base_mounts(taken: &[&str]) -> Vec<Value> {
    [
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
    ]
    .into_iter()
    .filter(|m| !taken.contains(&m["destination"].as_str().unwrap_or("")))
    .collect()
}

/// The `config.json` for this host's DB container.
pub fn runtime_spec(t: &PodTemplate, h: &HostContext) -> Result<Value, SpecError> {
    let mut caps: Vec<String> = RUNTIME_DEFAULT_CAPS
        .iter()
        .map(|c| format!("CAP_{c}"))
        .collect();
    for c in &t.capabilities_add {
        let c = format!("CAP_{}", c.trim_start_matches("CAP_"));
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    let taken: Vec<&str> = t.mounts.iter().map(|m| m.path.as_str()).collect();
    let mut mounts = base_mounts(&taken);
    for m in &t.mounts {
        let Some(v) = t.volumes.iter().find(|v| v.name == m.volume) else {
            continue;
        };
        mounts.push(match &v.source {
            VolumeSource::HostPath { path } => bind(&m.path, &host_path_dir(h, path), m.read_only),
            VolumeSource::EmptyDir { memory: false, .. } => bind(&m.path, &empty_dir(h, &v.name), m.read_only),
            VolumeSource::EmptyDir { memory: true, size_limit } => {
                let mut options = vec!["nosuid".to_string(), "nodev".into(), "mode=1777".into()];
                if let Some(q) = size_limit {
                    let size = bytes(&format!("volume {} sizeLimit", v.name), q)?;
                    options.push(format!("size={size}"));
                }
                json!({"destination": m.path, "type": "tmpfs", "source": "tmpfs", "options": options})
            }
            VolumeSource::Secret { secret_name, .. } => bind(&m.path, &h.secrets_dir.join(secret_name), true),
        });
    }
    for m in &h.extra_mounts {
        if !m.destination.starts_with('/') {
            return Err(SpecError::RelativeMount(m.destination.clone()));
        }
        mounts.push(bind(&m.destination, &m.source, m.read_only));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if t.host_network {
        namespaces.push(json!({"type": "network", "path": h.netns_path}));
    } else {
        namespaces.push(json!({"type": "network"}));
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    });
    // What a kubelet enforces: the container's memory limit on its cgroup (the kernel's OOM
    // killer acts inside it), and the real-time budget where the kernel asks for one.
    let mut resources = serde_json::Map::new();
    if let Some(q) = &t.memory_limit {
        let limit = bytes("resources.limits.memory", q)?;
        resources.insert("memory".into(), json!({"limit": limit}));
    }
    if let Some(rt) = h.realtime {
        resources.insert(
            "cpu".into(),
            json!({"realtimeRuntime": rt.runtime_us, "realtimePeriod": rt.period_us}),
        );
    }
    if !resources.is_empty() {
        linux["resources"] = serde_json::Value::Object(resources);
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": t.run_as_user, "gid": 0},
            "args": t.command,
            "env": resolve_env(t, h)?,
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": h.rlimits.nofile, "soft": h.rlimits.nofile},
                {"type": "RLIMIT_MEMLOCK", "hard": h.rlimits.memlock, "soft": h.rlimits.memlock}
            ],
            "noNewPrivileges": !t.allow_privilege_escalation
        },
        "root": {"path": h.rootfs, "readonly": t.read_only_root},
        "hostname": h.node_name,
        "mounts": mounts,
        "linux": linux
    });
    // Typed check: the result must deserialize as an OCI runtime spec.
    serde_json::from_value::<oci_spec::runtime::Spec>(spec.clone())
        .map_err(|e| SpecError::Invalid(e.to_string()))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod_template::{self, tests::seed_manifest};

    fn host() -> HostContext {
        HostContext {
            node_name: "ovn-db-1".into(),
            pod_name: "ovnkube-db-1".into(),
            pod_namespace: "ovn-kubernetes".into(),
            pod_ip: "198.18.0.11".into(),
            netns_path: "/var/run/netns/ovnha-h1".into(),
            rootfs: "/var/lib/ovn-ha/rootfs".into(),
            host_dir: "/var/lib/ovn-ha/hosts/h1".into(),
            secrets_dir: "/var/lib/ovn-ha/secrets".into(),
            extra_env: vec![("OVN_DB_HA_PEERS".into(), "ovn-db-1=198.18.0.11".into())],
            extra_mounts: Vec::new(),
            rlimits: crate::limits::Rlimits::default(),
            realtime: None,
        }
    }

    fn spec() -> Value {
        let t = pod_template::parse(&seed_manifest(), "ovnkube-db").unwrap();
        runtime_spec(&t, &host()).unwrap()
    }

    #[test]
    fn process_matches_the_pod() {
        let s = spec();
        let p = &s["process"];
        assert_eq!(p["args"], json!(["/usr/bin/ovnkube-db-ha", "run"]));
        let env: Vec<&str> = p["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        for want in [
            "K8S_NODE=ovn-db-1",
            "POD_NAME=ovnkube-db-1",
            "POD_IP=198.18.0.11",
            "OVN_DB_VIP=198.18.0.100",
            "OVN_DB_VIP_PREFIX=24",
            "OVN_DB_HA_PEERS=ovn-db-1=198.18.0.11",
            "POD_NAMESPACE=ovn-kubernetes",
        ] {
            assert!(env.contains(&want), "{want} missing from {env:?}");
        }
        let caps = p["capabilities"]["bounding"].as_array().unwrap();
        assert_eq!(
            caps.len(),
            RUNTIME_DEFAULT_CAPS.len() + 3,
            "NET_RAW is already a default"
        );
        assert!(caps.contains(&json!("CAP_NET_ADMIN")) && caps.contains(&json!("CAP_IPC_LOCK")));
        assert!(!caps.contains(&json!("CAP_SYS_RESOURCE")));
        assert_eq!(p["noNewPrivileges"], true);
        assert_eq!(p["rlimits"][1]["type"], "RLIMIT_MEMLOCK");
        assert_eq!(s["hostname"], "ovn-db-1");
        assert_eq!(s["root"]["readonly"], true);
        assert_eq!(s["linux"]["resources"]["memory"]["limit"], 1u64 << 30);
        assert!(s["linux"]["resources"].get("cpu").is_none());
        let mut h = host();
        h.realtime = Some(crate::limits::RealtimeBudget {
            runtime_us: 150_000,
            period_us: 1_000_000,
        });
        let t = pod_template::parse(&seed_manifest(), "ovnkube-db").unwrap();
        let rt = runtime_spec(&t, &h).unwrap();
        assert_eq!(rt["linux"]["resources"]["cpu"]["realtimeRuntime"], 150_000);
        assert_eq!(rt["linux"]["resources"]["cpu"]["realtimePeriod"], 1_000_000);
        assert!(
            s["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .contains(&json!({"type": "network", "path": "/var/run/netns/ovnha-h1"}))
        );
    }

    #[test]
    fn volumes_become_host_dirs_tmpfs_and_secrets() {
        let s = spec();
        let mounts = s["mounts"].as_array().unwrap();
        let at =
            |d: &str| -> Vec<&Value> { mounts.iter().filter(|m| m["destination"] == d).collect() };
        assert_eq!(
            at("/var/lib/ovn")[0]["source"],
            "/var/lib/ovn-ha/hosts/h1/node/var/lib/ovn"
        );
        assert_eq!(
            at("/etc/corosync")[0]["source"],
            "/var/lib/ovn-ha/hosts/h1/pod/etc-corosync"
        );
        assert_eq!(at("/run")[0]["type"], "tmpfs");
        let shm = at("/dev/shm");
        assert_eq!(shm.len(), 1, "the volume replaces the runtime's /dev/shm");
        assert!(
            shm[0]["options"]
                .as_array()
                .unwrap()
                .contains(&json!(format!("size={}", 256u64 << 20)))
        );
        let key = at("/etc/corosync-authkey");
        assert_eq!(
            key[0]["source"],
            "/var/lib/ovn-ha/secrets/ovnkube-db-corosync-authkey"
        );
        assert!(key[0]["options"].as_array().unwrap().contains(&json!("ro")));
        let t = pod_template::parse(&seed_manifest(), "ovnkube-db").unwrap();
        let dirs = host_dirs(&t, &host());
        assert!(dirs.contains(&PathBuf::from("/var/lib/ovn-ha/hosts/h1/node/var/lib/ovn")));
        assert!(dirs.contains(&PathBuf::from(
            "/var/lib/ovn-ha/hosts/h1/pod/var-lib-pacemaker"
        )));
        assert!(!dirs.iter().any(|d| d.ends_with("run")));
    }

    #[test]
    fn extra_mounts_come_after_the_volumes() {
        let t = pod_template::parse(&seed_manifest(), "ovnkube-db").unwrap();
        let mut h = host();
        h.extra_mounts.push(ExtraMount {
            source: "/var/lib/ovn-ha/image/rootfs/usr/share/ovn/scripts/ovndb-servers.ocf".into(),
            destination: "/usr/lib/ocf/resource.d/ovn/ovndb-servers".into(),
            read_only: true,
        });
        let s = runtime_spec(&t, &h).unwrap();
        let last = s["mounts"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last["destination"],
            "/usr/lib/ocf/resource.d/ovn/ovndb-servers"
        );
        assert_eq!(last["type"], "bind");
        assert!(last["options"].as_array().unwrap().contains(&json!("ro")));
        h.extra_mounts[0].destination = "usr/x".into();
        assert!(matches!(
            runtime_spec(&t, &h),
            Err(SpecError::RelativeMount(_))
        ));
    }

    #[test]
    fn quantities_and_unknown_fields() {
        assert_eq!(bytes("v", "256Mi").unwrap(), 256 << 20);
        assert_eq!(bytes("v", "1G").unwrap(), 1_000_000_000);
        assert!(bytes("v", "1.5G").is_err());
        let mut t = pod_template::parse(&seed_manifest(), "ovnkube-db").unwrap();
        t.env.push(crate::pod_template::EnvVar {
            name: "X".into(),
            source: EnvSource::Field("metadata.uid".into()),
        });
        assert!(
            runtime_spec(&t, &host())
                .unwrap_err()
                .to_string()
                .contains("metadata.uid")
        );
    }
}
