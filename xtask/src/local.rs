//! The embedded local cluster from the command line: `cargo xtask deploy` without a
//! kubeconfig (build the image if stale, render with local defaults, bring up three test-bed
//! hosts running the DB pod under runc, wait until the VIP takes writes), `cargo xtask status`
//! and `cargo xtask down`.

use crate::image::ImageArgs;
use anyhow::{Context, Result};
use clap::Parser;
use ovn_ha_local::cluster::{self, Reporter, Site, UpOptions};
use ovn_ha_render::cli::RenderArgs;
use std::process::ExitCode;
use std::time::Duration;

/// Logs steps and subprocesses the way `crate::cmd` does.
struct Log;

impl Reporter for Log {
    fn step(&mut self, text: &str) {
        eprintln!("==> {text}");
    }
    fn command(&mut self, line: &str) {
        eprintln!("$ {line}");
    }
}

#[derive(Parser)]
struct ImageDefaults {
    #[command(flatten)]
    args: ImageArgs,
}

/// `cargo xtask image` with every flag at its default.
pub fn default_image_args() -> ImageArgs {
    ImageDefaults::parse_from(["image"]).args
}

/// The render flags for the local cluster (its VIP unless one is given), or, after every
/// problem is printed, exit status 2: called before anything is installed, built or started.
pub fn checked_render(render: &RenderArgs) -> Result<RenderArgs, ExitCode> {
    let mut render = render.clone();
    render
        .db_ha_vip
        .get_or_insert_with(|| Site::local().vip_cidr());
    match render.input().validate() {
        Ok(_) => Ok(render),
        Err(p) => {
            let problems: Vec<String> = p.0.iter().map(ToString::to_string).collect();
            ovn_ha_render::cli::print_problems(
                &problems,
                "nothing was installed, built or started",
            );
            Err(ExitCode::from(2))
        }
    }
}

/// `cargo xtask deploy` with no cluster named, for flags [`checked_render`] accepted.
pub fn deploy(render: &RenderArgs, wait: Duration) -> Result<ExitCode> {
    let site = Site::local();
    let running = cluster::running_hosts(&site);
    if !running.is_empty() {
        eprintln!(
            "the local cluster is already running ({}); nothing changed. `cargo xtask status` shows it, `cargo xtask down` removes it",
            running.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    let started = std::time::Instant::now();
    eprintln!("==> building the image (cached layers are reused)");
    let image = default_image_args();
    let code = crate::image::run(&image)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    eprintln!("==> rendering the manifests for the local cluster");
    let code = ovn_ha_render::cli::run(render)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let config = render
        .input()
        .validate()
        .map_err(|p| anyhow::anyhow!("{p}"))?
        .config;
    let root = ovn_ha_local::workspace::root();
    let layout = image
        .output
        .clone()
        .unwrap_or_else(|| crate::image::default_output(&root));
    let opts = UpOptions {
        manifests: render.output_dir(),
        image: format!("{}:{}", layout.display(), image.tag),
        hosts: config.db_replicas as usize,
        vip: config.vip.addr,
        wait,
        extra_env: Vec::new(),
        extra_mounts: Vec::new(),
        realtime: true,
        ssl: Vec::new(),
    };
    let report = cluster::up(&site, &opts, &mut Log)
        .context("the local cluster did not come up; `cargo xtask down` removes what was made")?;
    println!("local cluster up: {} hosts", report.hosts.len());
    for (name, addr) in &report.hosts {
        println!("  {name} {addr}");
    }
    println!(
        "the VIP {} takes writes; bootstrap took {:.1} s (containers started to first write), {:.0} s in all",
        config.vip.addr,
        report.bootstrap.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("  ovn-nbctl --db={} show", config.ovn_north());
    println!("  ovn-sbctl --db={} show", config.ovn_south());
    println!("  cargo xtask status; cargo xtask down");
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask deploy --upgrade-suite SUITE` with no cluster named: builds the image on `suite`
/// and replaces the running local cluster's pods with it one by one, standbys first, as a
/// rolling update of the DB Deployment does; OVN's schemas move once every pod runs it.
pub fn upgrade(suite: &str) -> Result<ExitCode> {
    let site = Site::local();
    if cluster::running_hosts(&site).is_empty() {
        anyhow::bail!(
            "--upgrade-suite replaces the pods of the running local cluster, and it is not running: `cargo xtask deploy` first"
        );
    }
    let started = std::time::Instant::now();
    eprintln!("==> building the image on {suite} (cached layers are reused)");
    let mut image = default_image_args();
    image.suite = Some(suite.to_owned());
    let code = crate::image::run(&image)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    let root = ovn_ha_local::workspace::root();
    let layout = crate::image::suite_output(&root, Some(suite));
    let views = ovn_ha_local::observe::sample(&site);
    let active = ovn_ha_local::observe::active_host(&views)
        .context("no copy is promoted now (`cargo xtask status` shows why); nothing was replaced")?
        .to_owned();
    let done = ovn_ha_local::upgrade::rolling(
        &site,
        &format!("{}:{}", layout.display(), image.tag),
        &active,
        &mut Log,
    )
    .context("the rolling upgrade stopped; `cargo xtask status` shows where")?;
    for (host, took) in &done.replaced {
        println!(
            "  {host} replaced, converged in {:.1} s",
            took.as_secs_f64()
        );
    }
    println!(
        "every copy serves NB {} and SB {} ({:.1} s after the last pod); {:.0} s in all",
        done.schemas[0],
        done.schemas[1],
        done.converted_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask status`: hosts and containers, then the cluster as the entrypoint sees it.
pub fn status(json: bool) -> Result<ExitCode> {
    let states = cluster::container_states(&Site::local());
    if states.is_empty() {
        println!("the local cluster is not running (`cargo xtask deploy` starts it)");
        return Ok(ExitCode::FAILURE);
    }
    if !json {
        for (host, state) in &states {
            println!("{host}: {state}");
        }
        println!();
    }
    let mut cmd = vec!["/usr/bin/ovnkube-db-ha", "status"];
    if json {
        cmd.push("--json");
    }
    for (host, _) in &states {
        if let Ok(out) = cluster::exec_in(host, &cmd)
            && out.status.success()
        {
            print!("{}", String::from_utf8_lossy(&out.stdout));
            return Ok(ExitCode::SUCCESS);
        }
    }
    eprintln!("no host answered `ovnkube-db-ha status`");
    Ok(ExitCode::FAILURE)
}

/// `cargo xtask down`.
pub fn down() -> Result<ExitCode> {
    cluster::down(&Site::local(), &mut Log)?;
    println!("the local cluster is gone");
    Ok(ExitCode::SUCCESS)
}
