//! `cargo xtask render` (and `dist/images/daemonset.sh`): validate the flags and write the four
//! manifests. Bad input exits with status 2, lists every problem and writes nothing.

use anyhow::{Context, Result};
use ovn_ha_config::{Problem, RenderInput, defaults};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of the original ovn-kubernetes `daemonset.sh`, plus a few of ours. Values stay text
/// here; the config crate validates them all at once.
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
    /// Use this corosync authkey (128-4096 bytes) instead of generating a fresh one.
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
        }
    }

    pub fn output_dir(&self) -> PathBuf {
        self.output_dir
            .clone()
            .unwrap_or_else(|| crate::cmd::workspace_root().join("dist/yaml"))
    }
}

/// Reads a given authkey, or makes a fresh one from the OS random source.
fn authkey(file: Option<&Path>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) => {
            let key = std::fs::read(path).map_err(|e| {
                format!(
                    "--corosync-authkey-file: cannot read {}: {e}; give a readable file",
                    path.display()
                )
            })?;
            if !ovn_ha_render::AUTHKEY_LEN_RANGE.contains(&key.len()) {
                return Err(format!(
                    "--corosync-authkey-file: {} holds {} bytes; a corosync authkey has 128 to 4096 (make one with corosync-keygen)",
                    path.display(),
                    key.len()
                ));
            }
            Ok(key)
        }
        None => {
            let mut key = vec![0u8; ovn_ha_render::AUTHKEY_LEN];
            getrandom::fill(&mut key)
                .map_err(|e| format!("cannot read the OS random source: {e}"))?;
            Ok(key)
        }
    }
}

pub fn run(args: &RenderArgs) -> Result<ExitCode> {
    let validated = args.input().validate();
    let key = if args.omit_authkey_secret {
        Ok(None)
    } else {
        authkey(args.corosync_authkey_file.as_deref()).map(Some)
    };
    let mut problems: Vec<String> = match &validated {
        Ok(_) => Vec::new(),
        Err(p) => p.0.iter().map(Problem::to_string).collect(),
    };
    if let Err(e) = &key {
        problems.push(e.clone());
    }
    if !problems.is_empty() {
        eprintln!(
            "error: {} problem{} with the flags; nothing was written:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in problems {
            eprintln!("  {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let (Ok(validated), Ok(key)) = (validated, key) else {
        unreachable!("problems were reported above")
    };
    for w in &validated.warnings {
        eprintln!("warning: {w}");
    }
    let files =
        ovn_ha_render::render_all(&validated.config, key.as_deref()).context("rendering failed")?;
    let dir = args.output_dir();
    ovn_ha_render::write_atomically(&dir, &files)?;
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

    #[test]
    fn authkey_file_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, [1u8; 10]).unwrap();
        assert!(authkey(Some(&short)).unwrap_err().contains("10 bytes"));
        let missing = dir.path().join("missing");
        assert!(
            authkey(Some(&missing))
                .unwrap_err()
                .contains("--corosync-authkey-file")
        );
        let good = dir.path().join("good");
        std::fs::write(&good, [1u8; 256]).unwrap();
        assert_eq!(authkey(Some(&good)).unwrap().len(), 256);
        let a = authkey(None).unwrap();
        let b = authkey(None).unwrap();
        assert_eq!(a.len(), 256);
        assert_ne!(a, b);
    }
}
