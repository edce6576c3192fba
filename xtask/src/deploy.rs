//! `cargo xtask deploy`: put the rendered manifests on a cluster. With `--kubeconfig` (or
//! `KUBECONFIG`) it applies `dist/yaml` to that Kubernetes cluster with kube-rs, in dependency
//! order, waiting for the databases before the control plane; `--delete` removes it all again.
//! Without a kubeconfig it installs the Debian packages the local cluster needs (see
//! [`crate::deps`]), then starts the embedded local cluster (see [`crate::local`]).
//! `--dry-run` prints the objects in apply order and contacts nothing.

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kube::config::{KubeConfigOptions, Kubeconfig};
use ovn_ha_deploy::{Options, Plan, Progress, cluster};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Kubeconfig of the target cluster [default: $KUBECONFIG when set].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig to use [default: its current context].
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Print the objects in apply order as YAML; contact no cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete everything the manifests define, in reverse order.
    #[arg(long, conflicts_with = "dry_run")]
    pub delete: bool,
    /// Label these nodes (comma-separated) as DB nodes before deploying.
    #[arg(long, value_name = "N1,N2,N3", value_delimiter = ',')]
    pub label_db_nodes: Vec<String>,
    /// Longest wait for the databases to become available (or, on the local cluster, for the
    /// VIP to take writes), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub wait_timeout: u64,
    /// Local cluster only: build the DB image on this Debian suite (e.g. `trixie`, a newer OVN)
    /// and replace the running cluster's pods with it one by one, as a rolling update of the
    /// DB Deployment does (on Kubernetes: `kubectl set image`, see the README).
    #[arg(long, value_name = "SUITE", conflicts_with_all = ["dry_run", "delete"])]
    pub upgrade_suite: Option<String>,
    /// Render flags, used for the local cluster; `--output-dir` (alias `--manifests`) is also
    /// where a Kubernetes deploy reads the manifests.
    #[command(flatten)]
    pub render: ovn_ha_render::cli::RenderArgs,
}

/// Progress on the terminal: a spinner for waits, a line per finished step.
struct Bar(ProgressBar);

impl Bar {
    fn new() -> Bar {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(200));
        Bar(pb)
    }
}

impl Progress for Bar {
    fn step(&mut self, text: &str) {
        // `println` prints nothing when stderr is not a terminal (CI, pipes): suspend instead.
        self.0.suspend(|| eprintln!("  {text}"));
    }
    fn waiting(&mut self, text: &str) {
        self.0.set_message(text.to_string());
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The kubeconfig named by the flag, else by `KUBECONFIG` (which may list several files).
fn kubeconfig(args: &DeployArgs) -> Result<Option<(Kubeconfig, String)>> {
    if let Some(path) = &args.kubeconfig {
        let kc = Kubeconfig::read_from(path)
            .with_context(|| format!("--kubeconfig: cannot read {}", path.display()))?;
        return Ok(Some((kc, path.display().to_string())));
    }
    match std::env::var("KUBECONFIG") {
        Ok(v) if !v.is_empty() => {
            let kc = Kubeconfig::from_env()
                .with_context(|| format!("KUBECONFIG: cannot read {v}"))?
                .with_context(|| format!("KUBECONFIG: nothing usable in {v}"))?;
            Ok(Some((kc, v)))
        }
        _ => Ok(None),
    }
}

async fn client(args: &DeployArgs, kubeconfig: Kubeconfig, source: &str) -> Result<kube::Client> {
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| format!("{source}: no usable context"))?;
    kube::Client::try_from(config).context("cannot build a Kubernetes client")
}

pub fn run(args: &DeployArgs) -> Result<ExitCode> {
    let dir = args.render.output_dir();
    if args.dry_run {
        let plan = Plan::from_dir(&dir)?;
        print!(
            "{}",
            plan.to_yaml().context("cannot print the objects as YAML")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let Some((kc, source)) = kubeconfig(args)? else {
        if let Some(suite) = &args.upgrade_suite {
            crate::deps::install(crate::deps::Needs::Deploy)?;
            return crate::local::upgrade(suite);
        }
        if args.delete || !args.label_db_nodes.is_empty() {
            bail!(
                "--delete and --label-db-nodes need a Kubernetes cluster: give --kubeconfig FILE (the local cluster goes with `cargo xtask down`)"
            );
        }
        let render = match crate::local::checked_render(&args.render) {
            Ok(render) => render,
            Err(code) => return Ok(code),
        };
        // Before anything is built: the programs the image build and the local cluster start.
        crate::deps::install(crate::deps::Needs::Deploy)?;
        return crate::local::deploy(&render, Duration::from_secs(args.wait_timeout.min(300)));
    };
    if args.upgrade_suite.is_some() {
        bail!(
            "--upgrade-suite is for the local cluster; on Kubernetes, roll the DB Deployment onto the new image: kubectl -n NAMESPACE set image deployment/ovnkube-db ovnkube-db-ha=IMAGE"
        );
    }
    let plan = Plan::from_dir(&dir)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = client(args, kc, &source).await?;
        let mut bar = Bar::new();
        if args.delete {
            eprintln!("deleting the objects of {} in reverse order", dir.display());
            cluster::delete_all(&client, &plan, &mut bar).await?;
        } else {
            let options = Options {
                label_nodes: args.label_db_nodes.clone(),
                wait_timeout: Duration::from_secs(args.wait_timeout),
            };
            eprintln!(
                "applying {} (field manager {})",
                dir.display(),
                ovn_ha_deploy::FIELD_MANAGER
            );
            cluster::deploy(&client, &plan, &options, &mut bar).await?;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
