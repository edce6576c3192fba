//! The render command line — `dist/images/daemonset.sh` (this crate's `ovn-ha-render` binary)
//! and `cargo xtask render`: validate the flags and write the four manifests. Bad input exits
//! with status 2, lists every problem and writes nothing.
//!
//! The corosync authkey is stable: `--corosync-authkey-file` gives it, else a re-render keeps the
//! one in the `ovn-setup.yaml` already in the output directory (pods restarted with re-rendered
//! manifests must still join the running ones), and only a first render makes a fresh one. An
//! `ovn-setup.yaml` whose key cannot be read back is an error, never a silent new key.

use crate::pki::{self, Pki};
use crate::secrets::SecretParseError;
use anyhow::{Context, Result};
use ovn_ha_config::upstream::default as up;
use ovn_ha_config::{Problem, RenderInput, UpstreamInput, db_env, defaults};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of the original ovn-kubernetes `daemonset.sh` (every one of upstream's revision
/// `ovn_ha_config::upstream::REVISION`, same spelling and default), plus a few of ours. Values
/// stay text here; the config crate validates them all at once.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderArgs {
    /// Image of ovnkube-master and ovnkube-node.
    #[arg(long, value_name = "IMAGE", default_value = defaults::IMAGE)]
    pub image: String,
    /// Image of the DB HA pods (what `cargo xtask image` builds).
    #[arg(long, value_name = "IMAGE", default_value = defaults::DB_IMAGE)]
    pub db_vip_image: String,
    /// Kubernetes API server URL; a bare HOST:PORT means https.
    #[arg(long, value_name = "URL", default_value = defaults::K8S_APISERVER)]
    pub k8s_apiserver: String,
    /// Cluster network(s), comma-separated, each NET/LEN[/HOST-SUBNET-LEN].
    #[arg(long, value_name = "CIDRS", default_value = defaults::NET_CIDR)]
    pub net_cidr: String,
    /// Service network(s), comma-separated, at most one per address family.
    #[arg(long, value_name = "CIDRS", default_value = defaults::SVC_CIDR)]
    pub svc_cidr: String,
    /// Number of DB pods, one per labelled node: odd, at least 3.
    #[arg(long, value_name = "N", default_value = defaults::DB_REPLICAS)]
    pub db_replicas: String,
    /// Virtual IP of the active DB copy: a free address of the node subnet, optionally
    /// ADDR/PREFIX-LEN. Required. `--db-vip` is the original script's spelling.
    #[arg(long, visible_alias = "db-vip", value_name = "ADDR[/LEN]")]
    pub db_ha_vip: Option<String>,
    /// Namespace of every namespaced object.
    #[arg(long, value_name = "NAME", default_value = defaults::NAMESPACE)]
    pub namespace: String,
    /// Node label (KEY=VALUE) that selects the DB nodes.
    #[arg(long, value_name = "KEY=VALUE", default_value = defaults::DB_NODE_LABEL)]
    pub db_node_label: String,
    /// Pod network MTU written to the ovn-config ConfigMap.
    #[arg(long, value_name = "BYTES", default_value = defaults::MTU)]
    pub mtu: String,
    /// Memory limit of each DB pod's container (both ovsdb-servers, Pacemaker, corosync), a
    /// Kubernetes quantity such as 4Gi; raise it for large clusters (README, sizing).
    #[arg(long, value_name = "SIZE", default_value = defaults::DB_MEMORY_LIMIT)]
    pub db_memory_limit: String,
    /// Pull policy of the ovnkube-master and ovnkube-node containers: Always, IfNotPresent or
    /// Never.
    #[arg(long, value_name = "POLICY", default_value = up::IMAGE_PULL_POLICY)]
    pub image_pull_policy: String,
    /// Gateway mode of ovnkube-master and ovnkube-node: shared or local (upstream's empty
    /// default means shared).
    #[arg(long, value_name = "MODE", default_value = up::GATEWAY_MODE)]
    pub gateway_mode: String,
    /// Extra gateway options for ovnkube-node, space-separated (OVN_GATEWAY_OPTS).
    #[arg(long, value_name = "OPTIONS", default_value = up::GATEWAY_OPTIONS, allow_hyphen_values = true)]
    pub gateway_options: String,
    /// A kind cluster: ovnkube-node runs privileged and mounts /var/run/netns bidirectionally.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = up::KIND, default_missing_value = "true")]
    pub kind: String,
    /// ovnkube-master log level, 0-10 (OVNKUBE_LOGLEVEL).
    #[arg(long, value_name = "N", default_value = up::MASTER_LOGLEVEL)]
    pub master_loglevel: String,
    /// ovnkube-node log level, 0-10 (OVNKUBE_LOGLEVEL).
    #[arg(long, value_name = "N", default_value = up::NODE_LOGLEVEL)]
    pub node_loglevel: String,
    /// ovn-northd log options (OVN_LOGLEVEL_NORTHD).
    #[arg(long, value_name = "OPTIONS", default_value = up::LOGLEVEL_NORTHD, allow_hyphen_values = true)]
    pub ovn_loglevel_northd: String,
    /// Accepted and ignored (upstream default "-vconsole:info -vfile:info"): the log options of
    /// upstream's NB DB container; our OCF agent starts ovsdb-server itself.
    #[arg(long, value_name = "OPTIONS", allow_hyphen_values = true)]
    pub ovn_loglevel_nb: Option<String>,
    /// Accepted and ignored (upstream default "-vconsole:info -vfile:info"), as
    /// --ovn-loglevel-nb.
    #[arg(long, value_name = "OPTIONS", allow_hyphen_values = true)]
    pub ovn_loglevel_sb: Option<String>,
    /// ovn-controller log options (OVN_LOGLEVEL_CONTROLLER).
    #[arg(long, value_name = "OPTIONS", default_value = up::LOGLEVEL_CONTROLLER, allow_hyphen_values = true)]
    pub ovn_loglevel_controller: String,
    /// The ovn-nbctl daemon's log options (OVN_LOGLEVEL_NBCTLD).
    #[arg(long, value_name = "OPTIONS", default_value = up::LOGLEVEL_NBCTLD, allow_hyphen_values = true)]
    pub ovn_loglevel_nbctld: String,
    /// ovnkube log file size in MB before rotation.
    #[arg(long, value_name = "MB", default_value = up::LOGFILE_MAXSIZE)]
    pub ovnkube_logfile_maxsize: String,
    /// Rotated ovnkube log files kept.
    #[arg(long, value_name = "N", default_value = up::LOGFILE_MAXBACKUPS)]
    pub ovnkube_logfile_maxbackups: String,
    /// Days a rotated ovnkube log file is kept.
    #[arg(long, value_name = "DAYS", default_value = up::LOGFILE_MAXAGE)]
    pub ovnkube_logfile_maxage: String,
    /// Refused for now: TLS between OVN clients and the databases, which the Pacemaker DB pods
    /// do not serve yet.
    #[arg(long)]
    pub ssl: bool,
    /// ovnkube-master replicas, one per control-plane node, leader-elected.
    #[arg(long, value_name = "N", default_value = up::MASTER_COUNT)]
    pub ovn_master_count: String,
    /// Northbound client port of the DB pods, the Service and OVN_NORTH.
    #[arg(long, value_name = "PORT", default_value = up::NB_PORT)]
    pub ovn_nb_port: String,
    /// Southbound client port of the DB pods, the Service and OVN_SOUTH.
    #[arg(long, value_name = "PORT", default_value = up::SB_PORT)]
    pub ovn_sb_port: String,
    /// Accepted and ignored (upstream default 6643): a RAFT port, meaningless with the
    /// Pacemaker DB.
    #[arg(long, value_name = "PORT")]
    pub ovn_nb_raft_port: Option<String>,
    /// Accepted and ignored (upstream default 6644): a RAFT port, meaningless with the
    /// Pacemaker DB.
    #[arg(long, value_name = "PORT")]
    pub ovn_sb_raft_port: Option<String>,
    /// Accepted and ignored (upstream default 1000): a RAFT election timer in ms.
    #[arg(long = "ovn_nb_raft_election_timer", value_name = "MS")]
    pub ovn_nb_raft_election_timer: Option<String>,
    /// Accepted and ignored (upstream default 1000): a RAFT election timer in ms.
    #[arg(long = "ovn_sb_raft_election_timer", value_name = "MS")]
    pub ovn_sb_raft_election_timer: Option<String>,
    /// Hybrid overlay in ovnkube-master and ovnkube-node: true or false.
    #[arg(long, value_name = "BOOL", default_value = "false")]
    pub hybrid_enabled: String,
    /// Use this corosync authkey (128-4096 bytes). Without it a re-render keeps the key of the
    /// ovn-setup.yaml already in the output directory, and a first render makes a fresh one.
    #[arg(long, value_name = "FILE")]
    pub corosync_authkey_file: Option<PathBuf>,
    /// Leave the authkey Secret out (for published example manifests); create it yourself.
    #[arg(long, conflicts_with = "corosync_authkey_file")]
    pub omit_authkey_secret: bool,
    /// Where to write the manifests [default: dist/yaml of this repository].
    #[arg(long, visible_alias = "manifests", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

impl RenderArgs {
    pub fn input(&self) -> RenderInput {
        RenderInput {
            image: self.image.clone(),
            db_image: self.db_vip_image.clone(),
            k8s_apiserver: self.k8s_apiserver.clone(),
            net_cidr: self.net_cidr.clone(),
            svc_cidr: self.svc_cidr.clone(),
            db_replicas: self.db_replicas.clone(),
            db_vip: self.db_ha_vip.clone(),
            namespace: self.namespace.clone(),
            db_node_label: self.db_node_label.clone(),
            mtu: self.mtu.clone(),
            db_memory_limit: self.db_memory_limit.clone(),
            upstream: UpstreamInput {
                image_pull_policy: self.image_pull_policy.clone(),
                gateway_mode: self.gateway_mode.clone(),
                gateway_options: self.gateway_options.clone(),
                kind: self.kind.clone(),
                master_loglevel: self.master_loglevel.clone(),
                node_loglevel: self.node_loglevel.clone(),
                ovn_loglevel_northd: self.ovn_loglevel_northd.clone(),
                ovn_loglevel_nb: self.ovn_loglevel_nb.clone(),
                ovn_loglevel_sb: self.ovn_loglevel_sb.clone(),
                ovn_loglevel_controller: self.ovn_loglevel_controller.clone(),
                ovn_loglevel_nbctld: self.ovn_loglevel_nbctld.clone(),
                ovnkube_logfile_maxsize: self.ovnkube_logfile_maxsize.clone(),
                ovnkube_logfile_maxbackups: self.ovnkube_logfile_maxbackups.clone(),
                ovnkube_logfile_maxage: self.ovnkube_logfile_maxage.clone(),
                ssl: self.ssl,
                ovn_master_count: self.ovn_master_count.clone(),
                ovn_nb_port: self.ovn_nb_port.clone(),
                ovn_sb_port: self.ovn_sb_port.clone(),
                ovn_nb_raft_port: self.ovn_nb_raft_port.clone(),
                ovn_sb_raft_port: self.ovn_sb_raft_port.clone(),
                ovn_nb_raft_election_timer: self.ovn_nb_raft_election_timer.clone(),
                ovn_sb_raft_election_timer: self.ovn_sb_raft_election_timer.clone(),
                hybrid_enabled: self.hybrid_enabled.clone(),
            },
        }
    }

    pub fn output_dir(&self) -> PathBuf {
        self.output_dir
            .clone()
            .unwrap_or_else(|| workspace_root().join("dist/yaml"))
    }
}

/// The checkout this binary was built from (`dist/yaml` is the default output).
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map_or_else(|| here.to_path_buf(), Path::to_path_buf)
}

/// The rendered file that holds the corosync authkey Secret; a re-render reads the key back
/// from it.
const SECRET_FILE: &str = "ovn-setup.yaml";

/// Where the corosync authkey of a render came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    /// `--corosync-authkey-file`.
    Given(PathBuf),
    /// The Secret of an earlier render into the same directory.
    Kept(PathBuf),
    /// Fresh random bytes: nothing was rendered into the directory before.
    New,
}

/// The corosync authkey of a render and where it came from.
#[derive(Debug)]
struct Authkey {
    key: Vec<u8>,
    source: KeySource,
}

/// Reads the key `--corosync-authkey-file` names.
fn read_given(path: &Path) -> Result<Vec<u8>, String> {
    let key = std::fs::read(path).map_err(|e| {
        format!(
            "--corosync-authkey-file: cannot read {}: {e}; give a readable file",
            path.display()
        )
    })?;
    if !crate::AUTHKEY_LEN_RANGE.contains(&key.len()) {
        return Err(format!(
            "--corosync-authkey-file: {} holds {} bytes; a corosync authkey has 128 to 4096 (make one with corosync-keygen)",
            path.display(),
            key.len()
        ));
    }
    Ok(key)
}

/// A fresh key from the OS random source.
fn fresh() -> Result<Vec<u8>, String> {
    let mut key = vec![0u8; crate::AUTHKEY_LEN];
    getrandom::fill(&mut key).map_err(|e| format!("cannot read the OS random source: {e}"))?;
    Ok(key)
}

/// The authkey in the Secret of an earlier render's `ovn-setup.yaml`. Pure; the error says what
/// is wrong with the text, the caller adds the file and the fix.
fn key_in_rendered(text: &str) -> Result<Vec<u8>, String> {
    let secrets = crate::secrets::parse(text).map_err(|e| match e {
        SecretParseError::Yaml(m) => format!("it is not valid YAML ({m})"),
        other => other.to_string(),
    })?;
    let name = db_env::AUTHKEY_SECRET;
    let data = secrets.get(name).ok_or_else(|| {
        format!(
            "it holds no Secret {name} (rendered with --omit-authkey-secret? then give that flag again)"
        )
    })?;
    let key = data
        .get(db_env::AUTHKEY_KEY)
        .ok_or_else(|| format!("its Secret {name} has no key {}", db_env::AUTHKEY_KEY))?;
    if !crate::AUTHKEY_LEN_RANGE.contains(&key.len()) {
        return Err(format!(
            "the authkey in its Secret {name} is {} bytes long, and a corosync authkey has 128 to 4096",
            key.len()
        ));
    }
    Ok(key.clone())
}

/// The one error about an earlier render whose key cannot be kept: the file, what is wrong, and
/// the two ways out.
fn cannot_keep(path: &Path, why: &str, namespace: &str) -> String {
    format!(
        "{path}: {why}, so its corosync authkey cannot be kept for this render. Pass \
         --corosync-authkey-file FILE with the key your cluster runs with (kubectl -n {namespace} \
         get secret {secret} -o jsonpath='{{.data.{key}}}' | base64 -d > FILE), or delete {path} \
         to make a fresh key",
        path = path.display(),
        secret = db_env::AUTHKEY_SECRET,
        key = db_env::AUTHKEY_KEY,
    )
}

/// The key an earlier render left in `dir` and the file it is in; `None` when `dir` holds no
/// `ovn-setup.yaml` (a first render).
fn kept_key(dir: &Path, namespace: &str) -> Result<Option<(Vec<u8>, PathBuf)>, String> {
    let path = dir.join(SECRET_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        // A `dir` that is no directory is reported when writing.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => {
            return Err(cannot_keep(
                &path,
                &format!("cannot read it ({e})"),
                namespace,
            ));
        }
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| cannot_keep(&path, "it is not UTF-8 text", namespace))?;
    match key_in_rendered(&text) {
        Ok(key) => Ok(Some((key, path))),
        Err(why) => Err(cannot_keep(&path, &why, namespace)),
    }
}

/// The key to render with: the given file's, else the one an earlier render left in `dir`, else
/// a fresh one. Only a first render into a directory makes a key.
fn choose_authkey(file: Option<&Path>, dir: &Path, namespace: &str) -> Result<Authkey, String> {
    if let Some(path) = file {
        return Ok(Authkey {
            key: read_given(path)?,
            source: KeySource::Given(path.to_path_buf()),
        });
    }
    Ok(match kept_key(dir, namespace)? {
        Some((key, path)) => Authkey {
            key,
            source: KeySource::Kept(path),
        },
        None => Authkey {
            key: fresh()?,
            source: KeySource::New,
        },
    })
}

/// The line on stderr that says where the key came from.
fn describe_source(a: &Authkey, dir: &Path) -> String {
    match &a.source {
        KeySource::Given(path) => {
            format!(
                "corosync authkey: from --corosync-authkey-file {}",
                path.display()
            )
        }
        KeySource::Kept(path) => format!("corosync authkey: kept from {}", path.display()),
        KeySource::New => format!(
            "corosync authkey: new ({} random bytes); later renders into {} keep it",
            a.key.len(),
            dir.display()
        ),
    }
}

/// The TLS material of an earlier render's `ovn-setup.yaml` in `dir`: `None` when there is none
/// (no file, or a render without `--ssl`).
fn kept_pki(dir: &Path) -> Result<Option<(Pki, PathBuf)>, String> {
    let path = dir.join(SECRET_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        Err(e) => return Err(format!("{}: cannot read it ({e})", path.display())),
    };
    let fix = |why: String| {
        format!(
            "{}: {why}, so its TLS certificates cannot be kept for this render; delete the \
             Secrets {} and {} from it (or the file) to make new ones",
            path.display(),
            pki::DB_SECRET,
            pki::CLIENT_SECRET
        )
    };
    let secrets = crate::secrets::parse(&text).map_err(|e| fix(e.to_string()))?;
    Ok(pki::from_secrets(&secrets)
        .map_err(|e| fix(e.to_string()))?
        .map(|p| (p, path)))
}

/// With `--ssl` (and the Secrets not left out), the certificates an earlier render left in
/// `dir`, else fresh ones, and the line that says which.
fn choose_pki(ssl: bool, omit: bool, dir: &Path) -> Result<Option<(Pki, String)>, String> {
    if !ssl || omit {
        return Ok(None);
    }
    Ok(Some(match kept_pki(dir)? {
        Some((p, path)) => (p, format!("TLS certificates: kept from {}", path.display())),
        None => (
            pki::generate().map_err(|e| e.to_string())?,
            format!(
                "TLS certificates: a new CA and keys for NB, SB, ovn-northd and ovn-controller; \
                 later renders into {} keep them",
                dir.display()
            ),
        ),
    }))
}

/// Prints every problem, one per line, under a count and what was left undone.
pub fn print_problems(problems: &[String], undone: &str) {
    eprintln!(
        "error: {} problem{}; {undone}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        eprintln!("  {p}");
    }
}

pub fn run(args: &RenderArgs) -> Result<ExitCode> {
    let dir = args.output_dir();
    let validated = args.input().validate();
    let authkey = if args.omit_authkey_secret {
        Ok(None)
    } else {
        choose_authkey(args.corosync_authkey_file.as_deref(), &dir, &args.namespace).map(Some)
    };
    let tls = choose_pki(args.ssl, args.omit_authkey_secret, &dir);
    let mut problems: Vec<String> = match &validated {
        Ok(_) => Vec::new(),
        Err(p) => p.0.iter().map(Problem::to_string).collect(),
    };
    if let Err(e) = &authkey {
        problems.push(e.clone());
    }
    if let Err(e) = &tls {
        problems.push(e.clone());
    }
    if !problems.is_empty() {
        print_problems(&problems, "nothing was written");
        return Ok(ExitCode::from(2));
    }
    let (Ok(validated), Ok(authkey), Ok(tls)) = (validated, authkey, tls) else {
        unreachable!("problems were reported above")
    };
    for w in &validated.warnings {
        eprintln!("warning: {w}");
    }
    // A given key that differs from the one already rendered here: the running pods hold the
    // old one. Read before writing; a file that cannot be read back changes nothing here.
    let replaces = match &authkey {
        Some(a) if matches!(a.source, KeySource::Given(_)) => kept_key(&dir, &args.namespace)
            .ok()
            .flatten()
            .filter(|(old, _)| *old != a.key)
            .map(|(_, path)| path),
        _ => None,
    };
    let key = authkey.as_ref().map(|a| a.key.as_slice());
    let files = crate::render_all(&validated.config, key, tls.as_ref().map(|(p, _)| p))
        .context("rendering failed")?;
    crate::write_atomically(&dir, &files)?;
    if let Some(a) = &authkey {
        eprintln!("{}", describe_source(a, &dir));
    }
    if let Some((_, said)) = &tls {
        eprintln!("{said}");
    }
    if let Some(path) = replaces {
        eprintln!(
            "warning: that key replaces a different one in {}: DB pods still running with the old key cannot join pods started with this one",
            path.display()
        );
    }
    println!("wrote {} manifests to {}:", files.len(), dir.display());
    for f in &files {
        println!("  kubectl create -f {}", dir.join(f.name).display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: RenderArgs,
    }

    fn parse(argv: &[&str]) -> RenderArgs {
        Cli::try_parse_from(std::iter::once("render").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn both_spellings_and_both_forms() {
        let forms: &[&[&str]] = &[
            &["--db-ha-vip=10.0.2.100", "--db-replicas=5"],
            &["--db-ha-vip", "10.0.2.100", "--db-replicas", "5"],
            &["--db-vip=10.0.2.100", "--db-replicas", "5"],
            &["--db-vip", "10.0.2.100", "--db-replicas=5"],
        ];
        for argv in forms {
            let a = parse(argv);
            assert_eq!(a.db_ha_vip.as_deref(), Some("10.0.2.100"), "{argv:?}");
            assert_eq!(a.db_replicas, "5", "{argv:?}");
        }
    }

    #[test]
    fn seed_flags_map_to_input() {
        let a = parse(&[
            "--image=docker.io/ovnkube/ovn-daemonset-u:latest",
            "--k8s-apiserver=https://10.1.1.1:6443",
            "--net-cidr=192.168.0.0/16",
            "--svc-cidr=172.16.1.0/24",
            "--db-replicas=3",
            "--db-ha-vip=10.1.1.100",
            "--db-vip-image=example.com/db:1",
            "--output-dir",
            "out",
        ]);
        let input = a.input();
        assert_eq!(input.db_image, "example.com/db:1");
        assert_eq!(input.k8s_apiserver, "https://10.1.1.1:6443");
        assert_eq!(input.net_cidr, "192.168.0.0/16");
        assert_eq!(input.svc_cidr, "172.16.1.0/24");
        assert_eq!(a.output_dir(), PathBuf::from("out"));
        assert!(input.validate().is_ok());
    }

    #[test]
    fn defaults_follow_upstream() {
        let a = parse(&[]);
        assert_eq!(a.db_ha_vip, None);
        assert_eq!(a.k8s_apiserver, "https://10.0.2.16:6443");
        assert_eq!(a.net_cidr, "10.128.0.0/14/23");
        assert_eq!(a.svc_cidr, "172.30.0.0/16");
        assert!(a.output_dir().ends_with("dist/yaml"));
    }

    /// Every flag of upstream's daemonset.sh, in upstream's `--flag=value` form, reaches the
    /// input; the space form works too, also for values that start with '-'.
    #[test]
    fn upstream_flags_parse_in_both_forms() {
        let a = parse(&[
            "--image-pull-policy=Always",
            "--gateway-mode=local",
            "--gateway-options=--gateway-interface=eth1",
            "--kind",
            "--master-loglevel=5",
            "--node-loglevel=3",
            "--ovn-loglevel-northd=-vconsole:dbg",
            "--ovn-loglevel-nb=-vconsole:info -vfile:info",
            "--ovn-loglevel-sb=-vconsole:info",
            "--ovn-loglevel-controller",
            "-vconsole:warn",
            "--ovn-loglevel-nbctld=-vconsole:err",
            "--ovnkube-logfile-maxsize=50",
            "--ovnkube-logfile-maxbackups=2",
            "--ovnkube-logfile-maxage=1",
            "--ovn-master-count=3",
            "--ovn-nb-port=7641",
            "--ovn-sb-port",
            "7642",
            "--ovn-nb-raft-port=6643",
            "--ovn-sb-raft-port=6644",
            "--ovn_nb_raft_election_timer=1000",
            "--ovn_sb_raft_election_timer=1000",
            "--hybrid-enabled=true",
            "--db-vip=10.0.2.100",
        ]);
        let u = a.input().upstream;
        assert_eq!(u.image_pull_policy, "Always");
        assert_eq!(u.gateway_options, "--gateway-interface=eth1");
        assert_eq!(u.kind, "true");
        assert_eq!(u.ovn_loglevel_controller, "-vconsole:warn");
        assert_eq!(
            u.ovn_loglevel_nb.as_deref(),
            Some("-vconsole:info -vfile:info")
        );
        assert_eq!(u.ovn_sb_port, "7642");
        assert_eq!(u.ovn_nb_raft_election_timer.as_deref(), Some("1000"));
        assert!(!u.ssl);
        let v = a.input().validate().unwrap();
        assert_eq!(v.config.ovn_north(), "tcp:10.0.2.100:7641");
        assert_eq!(v.warnings.len(), 7, "{:?}", v.warnings);

        let d = parse(&["--kind=false", "--ssl"]).input().upstream;
        assert_eq!(d.kind, "false");
        assert!(d.ssl);
        let none = parse(&[]).input().upstream;
        assert_eq!(
            none,
            UpstreamInput {
                hybrid_enabled: "false".into(),
                ..UpstreamInput::default()
            }
        );
    }

    #[test]
    fn authkey_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 10]).unwrap();
        assert!(read_given(&short).unwrap_err().contains("10 bytes"));
        let missing = dir.path().join("missing");
        assert!(
            read_given(&missing)
                .unwrap_err()
                .contains("--corosync-authkey-file")
        );
        let good = dir.path().join("good");
        std::fs::write(&good, [1u8; 256]).unwrap();
        assert_eq!(read_given(&good).unwrap().len(), 256);
        let a = fresh().unwrap();
        let b = fresh().unwrap();
        assert_eq!(a.len(), 256);
        assert_ne!(a, b);
    }

    fn seed_config() -> ovn_ha_config::Config {
        RenderInput {
            db_vip: Some("10.0.2.100".into()),
            ..RenderInput::default()
        }
        .validate()
        .unwrap()
        .config
    }

    /// The Secret file as a render with `key` writes it.
    fn rendered_secret_file(key: Option<&[u8]>) -> String {
        let files = crate::render_all(&seed_config(), key, None).unwrap();
        let f = files.iter().find(|f| f.name == SECRET_FILE).unwrap();
        f.contents.clone()
    }

    /// A Secret of the right name whose key is 10 bytes long.
    const SHORT_KEY_SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ovnkube-db-corosync-authkey\n  namespace: x\ndata:\n  authkey: AQEBAQEBAQEBAQ==\n";

    #[test]
    fn the_key_reads_back_from_what_render_wrote() {
        let files = crate::render_all(&seed_config(), Some(&[7u8; 300]), None).unwrap();
        let secret_files: Vec<&str> = files.iter().filter(|f| f.secret).map(|f| f.name).collect();
        assert_eq!(
            secret_files,
            [SECRET_FILE],
            "the Secret moved to another file"
        );
        assert_eq!(
            key_in_rendered(&rendered_secret_file(Some(&[7u8; 300]))).unwrap(),
            [7u8; 300]
        );
    }

    #[test]
    fn a_key_that_cannot_be_read_back_says_why() {
        let omitted = rendered_secret_file(None);
        let bad_b64 = SHORT_KEY_SECRET.replace("AQEBAQEBAQEBAQ==", "not base64!");
        let no_key = SHORT_KEY_SECRET.replace("authkey: ", "other: ");
        let cases: &[(&str, &str)] = &[
            ("kind: [\n", "not valid YAML"),
            ("", "holds no Secret ovnkube-db-corosync-authkey"),
            (&omitted, "--omit-authkey-secret"),
            (SHORT_KEY_SECRET, "is 10 bytes long"),
            (&bad_b64, "not base64"),
            (&no_key, "has no key authkey"),
        ];
        for (text, want) in cases {
            let err = key_in_rendered(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn given_key_then_kept_key_then_a_fresh_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        // A first render: nothing there (not even the directory).
        let first = choose_authkey(None, &dir, "ns").unwrap();
        assert_eq!(first.source, KeySource::New);
        let files = crate::render_all(&seed_config(), Some(&first.key), None).unwrap();
        crate::write_atomically(&dir, &files).unwrap();
        // A re-render keeps it.
        let again = choose_authkey(None, &dir, "ns").unwrap();
        assert_eq!(again.key, first.key);
        assert_eq!(again.source, KeySource::Kept(dir.join(SECRET_FILE)));
        assert!(describe_source(&again, &dir).contains("kept from"));
        // A given key wins.
        let given = tmp.path().join("key");
        std::fs::write(&given, [3u8; 128]).unwrap();
        let g = choose_authkey(Some(&given), &dir, "ns").unwrap();
        assert_eq!((g.key, g.source), (vec![3u8; 128], KeySource::Given(given)));
        // An output "directory" that is a file: no key there; writing reports it.
        let file = tmp.path().join("key");
        assert_eq!(
            choose_authkey(None, &file, "ns").unwrap().source,
            KeySource::New
        );
    }

    #[test]
    fn a_bad_earlier_render_is_one_error_with_the_file_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(SECRET_FILE);
        for text in ["kind: [\n", SHORT_KEY_SECRET] {
            std::fs::write(&path, text).unwrap();
            let err = choose_authkey(None, tmp.path(), "ovn-kubernetes").unwrap_err();
            for want in [
                &path.display().to_string(),
                "--corosync-authkey-file",
                "kubectl -n ovn-kubernetes get secret ovnkube-db-corosync-authkey",
                "delete",
            ] {
                assert!(err.contains(want), "{want} missing: {err}");
            }
        }
        std::fs::write(&path, [0xffu8, 0xfe]).unwrap();
        let err = choose_authkey(None, tmp.path(), "ns").unwrap_err();
        assert!(err.contains("not UTF-8"), "{err}");
    }
}
