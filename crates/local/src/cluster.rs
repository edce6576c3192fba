//! Bringing the local cluster up and down: the test-bed hosts, the image's root filesystem
//! (unpacked once per image into a read-only cache shared by every cluster,
//! [`crate::rootfs_cache`]), one runc container per host built from the rendered pod
//! template, and a wait until the VIP takes writes. Everything is named after the [`Site`]'s
//! prefix, so [`down`] finds it all again, even after an `up` that was killed midway.

use crate::pod_template::{self, PodTemplate};
use crate::runtime_spec::{self, ExtraMount, HostContext};
use crate::secrets;
use ovn_ha_config::db_env;
use ovn_ha_testbed::{Bed, BedSpec};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where a local cluster lives: the prefix of its hosts (network namespaces), bridge and runc
/// containers, its subnet `198.18.N.0/24`, and the directory of its image, bundles, secrets,
/// host directories and logs. Distinct sites can run side by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub prefix: String,
    pub subnet: u8,
    pub state_dir: PathBuf,
}

impl Site {
    /// The site of `cargo xtask deploy`: hosts `ovnha-h*`, bridge 198.18.0.1/24.
    pub fn local() -> Site {
        Site {
            prefix: "ovnha".into(),
            subnet: 0,
            state_dir: PathBuf::from("/var/lib/ovn-ha-local"),
        }
    }

    /// A site of tests or benchmarks: hosts `PREFIX-h*` on bridge 198.18.SUBNET.1/24, state
    /// under `/var/lib/ovn-ha-PREFIX` (the plan of subnets is in [`crate::e2e`]).
    pub fn named(prefix: &str, subnet: u8) -> Site {
        Site {
            prefix: prefix.into(),
            subnet,
            state_dir: PathBuf::from(format!("/var/lib/ovn-ha-{prefix}")),
        }
    }

    /// The VIP rendered for this site: `.100` of its subnet, with the prefix length.
    pub fn vip_cidr(&self) -> String {
        format!("198.18.{}.100/24", self.subnet)
    }

    fn host_prefix(&self) -> String {
        format!("{}-h", self.prefix)
    }
}

/// Reports what happens: steps and the subprocesses about to run.
pub trait Reporter {
    fn step(&mut self, text: &str);
    fn command(&mut self, line: &str);
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("the local cluster is already running (hosts {0}); `cargo xtask down` removes it")]
    AlreadyRunning(String),
    #[error("{0} is missing: render the manifests first")]
    MissingManifest(PathBuf),
    #[error("{0}, the source of an extra bind mount, does not exist")]
    MissingMountSource(PathBuf),
    #[error(transparent)]
    Template(#[from] pod_template::TemplateError),
    #[error(transparent)]
    Spec(#[from] runtime_spec::SpecError),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error("test bed: {0}")]
    Bed(#[from] ovn_ha_testbed::BedError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    #[error(
        "the VIP {vip} took no write within {seconds} s; `cargo xtask status` and the logs under {logs} say why"
    )]
    NoWrites {
        vip: String,
        seconds: u64,
        logs: String,
    },
    #[error("{host} did not exit within {seconds} s of SIGTERM; its log says why")]
    StopTimeout { host: String, seconds: u64 },
    #[error("{path} is not a runtime spec: {error}")]
    BadBundle { path: PathBuf, error: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs a command to completion, reporting it first; fails unless it exits 0.
pub(crate) fn run(
    reporter: &mut dyn Reporter,
    program: &str,
    args: &[&str],
) -> Result<String, LocalError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let line = ovn_ha_exec::display(&cmd);
    reporter.command(&line);
    ovn_ha_exec::Exec::new(&cmd)
        .text()
        .map_err(|e| LocalError::Command {
            command: line,
            detail: match e {
                ovn_ha_exec::ExecError::Failed { stderr, .. } => stderr,
                other => other.to_string(),
            },
        })
}

/// What to bring up.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Directory with the rendered `ovn-setup.yaml` and `ovnkube-db-ha.yaml`.
    pub manifests: PathBuf,
    /// OCI image layout and tag to run (`DIR:TAG` for umoci).
    pub image: String,
    /// Number of hosts (the Deployment's replicas).
    pub hosts: usize,
    /// The VIP the manifests were rendered with.
    pub vip: IpAddr,
    /// Longest wait for the VIP to take a write.
    pub wait: Duration,
    /// Variables every container gets after the rendered ones (a benchmark's timing knobs).
    pub extra_env: Vec<(String, String)>,
    /// Bind mounts every container gets after the pod's volumes.
    pub extra_mounts: Vec<UpMount>,
    /// Give each container's cgroup a real-time budget where the kernel needs one (see
    /// [`crate::limits::RealtimeBudget`]); `false` reproduces a node without one.
    pub realtime: bool,
    /// `ovn-nbctl`'s key, certificate and CA options when the manifests were rendered with
    /// `--ssl` (the wait for writes then dials `ssl:`); empty: plain TCP.
    pub ssl: Vec<String>,
}

/// Where an extra bind mount's source lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A path on this machine.
    Host(PathBuf),
    /// A path inside the unpacked image (`usr/share/…`), e.g. to mount one of the image's
    /// files over another.
    Image(PathBuf),
}

/// An extra bind mount of [`UpOptions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpMount {
    pub source: MountSource,
    /// Absolute path in the container.
    pub destination: String,
    pub read_only: bool,
}

impl UpMount {
    /// A read-only bind of the image's own file `source` over `destination`.
    pub fn image_file_over(source: &str, destination: &str) -> UpMount {
        UpMount {
            source: MountSource::Image(PathBuf::from(source.trim_start_matches('/'))),
            destination: destination.into(),
            read_only: true,
        }
    }

    fn resolve(&self, rootfs: &Path) -> ExtraMount {
        ExtraMount {
            source: match &self.source {
                MountSource::Host(p) => p.clone(),
                MountSource::Image(p) => rootfs.join(p),
            },
            destination: self.destination.clone(),
            read_only: self.read_only,
        }
    }
}

/// What came up.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub hosts: Vec<(String, String)>,
    /// From the first container start to the first write accepted at the VIP.
    pub bootstrap: Duration,
}

/// The hosts' network namespaces that exist now.
pub fn running_hosts(site: &Site) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&site.host_prefix()))
        .map(str::to_string)
        .collect()
}

fn container_ids(site: &Site) -> Vec<String> {
    let out = Command::new("runc").args(["list", "-q"]).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter(|n| n.starts_with(&site.host_prefix()))
        .map(str::to_string)
        .collect()
}

/// Replaces a host's container by the same pod on another image, as a Deployment's rolling
/// update replaces a pod: [`stop_host`], then [`start_on_image`].
pub fn replace_image(
    site: &Site,
    host: &str,
    rootfs: &Path,
    stop_limit: Duration,
    reporter: &mut dyn Reporter,
) -> Result<(), LocalError> {
    stop_host(host, stop_limit, reporter)?;
    start_on_image(site, host, rootfs, reporter)
}

/// Stops a host's container as a pod is deleted: SIGTERM (the entrypoint hands over first),
/// then a bounded wait for it to exit.
pub fn stop_host(
    host: &str,
    stop_limit: Duration,
    reporter: &mut dyn Reporter,
) -> Result<(), LocalError> {
    run(reporter, "runc", &["kill", host, "TERM"])?;
    if !wait_stopped(host, stop_limit) {
        return Err(LocalError::StopTimeout {
            host: host.to_owned(),
            seconds: stop_limit.as_secs(),
        });
    }
    Ok(())
}

/// Starts a stopped host's pod anew on the image unpacked at `rootfs`, as a new pod of the
/// same template: its emptyDir volumes start empty, its hostPath volumes (the database files)
/// stay.
pub fn start_on_image(
    site: &Site,
    host: &str,
    rootfs: &Path,
    reporter: &mut dyn Reporter,
) -> Result<(), LocalError> {
    let pod = site.state_dir.join("hosts").join(host).join("pod");
    if let Ok(volumes) = std::fs::read_dir(&pod) {
        for v in volumes.flatten() {
            let path = v.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
                std::fs::create_dir(&path).map_err(io(&path))?;
            }
        }
    }
    let config = site
        .state_dir
        .join("bundles")
        .join(host)
        .join("config.json");
    let text = std::fs::read(&config).map_err(io(&config))?;
    let mut spec: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| LocalError::BadBundle {
            path: config.clone(),
            error: e.to_string(),
        })?;
    spec["root"]["path"] = serde_json::Value::String(rootfs.display().to_string());
    let text = serde_json::to_vec_pretty(&spec).unwrap_or_default();
    std::fs::write(&config, text).map_err(io(&config))?;
    restart_host(site, host, reporter)
}

/// Starts one host's container detached, its output appended to `logs/<host>.log`.
fn start_container(
    id: &str,
    bundle: &Path,
    log: &Path,
    reporter: &mut dyn Reporter,
) -> Result<(), LocalError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io(log))?;
    let err = file.try_clone().map_err(io(log))?;
    let line = format!("runc run --detach --bundle {} {id}", bundle.display());
    reporter.command(&line);
    let status = Command::new("runc")
        .args(["run", "--detach", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .status()
        .map_err(|e| LocalError::Command {
            command: line.clone(),
            detail: e.to_string(),
        })?;
    if !status.success() {
        return Err(LocalError::Command {
            command: line,
            detail: format!("{status}; see {}", log.display()),
        });
    }
    Ok(())
}

/// Whether the VIP accepts a write now (`ovn-nbctl init` creates NB_Global if missing), over
/// `ssl:` with `ssl`'s options if any.
pub fn vip_takes_writes(vip: IpAddr, timeout_s: u32, ssl: &[String]) -> bool {
    let host = match vip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    let scheme = if ssl.is_empty() { "tcp" } else { "ssl" };
    Command::new("ovn-nbctl")
        .arg(format!("--db={scheme}:{host}:6641"))
        .arg(format!("--timeout={timeout_s}"))
        .args(ssl)
        .arg("init")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The peer list every host gets: `name=ip,…`.
fn peers(bed: &Bed) -> String {
    bed.hosts()
        .iter()
        .map(|h| format!("{}={}", h.name(), h.addr()))
        .collect::<Vec<_>>()
        .join(",")
}

fn read(path: &Path) -> Result<String, LocalError> {
    if !path.is_file() {
        return Err(LocalError::MissingManifest(path.to_path_buf()));
    }
    std::fs::read_to_string(path).map_err(io(path))
}

/// Brings the local cluster up and waits until the VIP takes writes. Refuses, changing
/// nothing, when it is already running.
pub fn up(
    site: &Site,
    opts: &UpOptions,
    reporter: &mut dyn Reporter,
) -> Result<UpReport, LocalError> {
    let mut existing = running_hosts(site);
    existing.extend(container_ids(site));
    if !existing.is_empty() {
        existing.sort();
        existing.dedup();
        return Err(LocalError::AlreadyRunning(existing.join(", ")));
    }
    let db_manifest = read(&opts.manifests.join("ovnkube-db-ha.yaml"))?;
    let setup_manifest = read(&opts.manifests.join("ovn-setup.yaml"))?;
    let template: PodTemplate = pod_template::parse(&db_manifest, "ovnkube-db")?;
    let secret_files = secrets::parse(&setup_manifest).map_err(secrets::SecretError::from)?;

    // Leftovers of a killed run (state directory without hosts) go first.
    let state = site.state_dir.as_path();
    if state.exists() {
        std::fs::remove_dir_all(state).map_err(io(state))?;
    }
    for dir in ["bundles", "hosts", "secrets", "logs"] {
        let d = state.join(dir);
        std::fs::create_dir_all(&d).map_err(io(&d))?;
    }
    let rootfs = crate::rootfs_cache::unpacked(&opts.image, reporter)?;
    secrets::write(&state.join("secrets"), &secret_files, &template)?;

    reporter.step(&format!(
        "creating {} hosts on bridge {}-br (198.18.{}.1/24)",
        opts.hosts, site.prefix, site.subnet
    ));
    let bed = Bed::create(&BedSpec::new(&site.prefix, site.subnet, opts.hosts)?)?;
    for host in bed.hosts() {
        // Like a Kubernetes node (pod networking needs it), a host forwards IP. It matters at
        // a switchover: a client's packet to the VIP that still reaches the old holder is
        // passed on to the new one as soon as its gratuitous ARP arrives, instead of being
        // dropped until the client's 1 s SYN retransmit (measured: 0.39 s vs 1.12 s).
        host.run("sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
    }
    let peer_list = peers(&bed);
    let mut extra_env = vec![(db_env::PEERS.to_string(), peer_list)];
    extra_env.extend(opts.extra_env.iter().cloned());
    let extra_mounts: Vec<ExtraMount> = opts
        .extra_mounts
        .iter()
        .map(|m| m.resolve(&rootfs))
        .collect();
    for m in &extra_mounts {
        if !m.source.exists() {
            return Err(LocalError::MissingMountSource(m.source.clone()));
        }
    }
    let rlimits = crate::limits::for_this_process();
    let realtime = opts
        .realtime
        .then(|| crate::limits::realtime_for_this_machine(opts.hosts as u64))
        .flatten();
    if let Some(budget) = &realtime {
        let probe = format!("{}-rt-probe", site.prefix);
        let limit = crate::limits::GRANT_LIMIT;
        match crate::limits::await_grantable(budget, opts.hosts as u64, &probe, limit) {
            Some(waited) if waited.as_millis() >= 100 => reporter.step(&format!(
                "waited {waited:.1?} until the kernel released the last cluster's real-time budgets"
            )),
            Some(_) => {}
            None => reporter.step(&format!(
                "the kernel did not grant {} real-time budgets of {} us within {limit:?}; starting anyway",
                opts.hosts, budget.runtime_us
            )),
        }
    }
    let start = Instant::now();
    for host in bed.hosts() {
        let ctx = HostContext {
            node_name: host.name().to_string(),
            pod_name: format!("ovnkube-db-{}", host.index()),
            pod_namespace: "ovn-kubernetes".into(),
            pod_ip: host.addr().to_string(),
            netns_path: PathBuf::from(host.net_ns_path()),
            rootfs: rootfs.clone(),
            host_dir: state.join("hosts").join(host.name()),
            secrets_dir: state.join("secrets"),
            extra_env: extra_env.clone(),
            extra_mounts: extra_mounts.clone(),
            rlimits,
            realtime,
        };
        for dir in runtime_spec::host_dirs(&template, &ctx) {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let spec = runtime_spec::runtime_spec(&template, &ctx)?;
        let bundle = state.join("bundles").join(host.name());
        std::fs::create_dir_all(&bundle).map_err(io(&bundle))?;
        let config = bundle.join("config.json");
        let text = serde_json::to_vec_pretty(&spec).unwrap_or_default();
        std::fs::write(&config, text).map_err(io(&config))?;
        let log = state.join("logs").join(format!("{}.log", host.name()));
        start_container(host.name(), &bundle, &log, reporter)?;
        reporter.step(&format!("started {} at {}", host.name(), host.addr()));
    }
    let hosts: Vec<(String, String)> = bed
        .hosts()
        .iter()
        .map(|h| (h.name().to_string(), h.addr().to_string()))
        .collect();
    // The bed outlives this process: `down` removes it by name.
    std::mem::forget(bed);
    reporter.step(&format!("waiting until {} takes writes", opts.vip));
    let deadline = start + opts.wait;
    while Instant::now() < deadline {
        if vip_takes_writes(opts.vip, 2, &opts.ssl) {
            return Ok(UpReport {
                hosts,
                bootstrap: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(LocalError::NoWrites {
        vip: opts.vip.to_string(),
        seconds: opts.wait.as_secs(),
        logs: state.join("logs").display().to_string(),
    })
}

/// Copies every log file of the site (a name holding `.log`, under its state directory; the
/// images and root filesystems left out) into `dest`, keeping their paths relative to the
/// state directory: a run's post-mortem before [`down`] removes them. Returns how many.
pub fn keep_logs(site: &Site, dest: &Path) -> Result<usize, LocalError> {
    fn walk(
        from: &Path,
        rel: &Path,
        dest: &Path,
        depth: u8,
        n: &mut usize,
    ) -> Result<(), LocalError> {
        if depth > 12 {
            return Ok(());
        }
        for entry in std::fs::read_dir(from).map_err(io(from))? {
            let entry = entry.map_err(io(from))?;
            let name = entry.file_name();
            let text = name.to_string_lossy();
            let kind = entry.file_type().map_err(io(from))?;
            let path = entry.path();
            if kind.is_dir() && !(text.starts_with("image") || text == "rootfs") {
                walk(&path, &rel.join(&name), dest, depth + 1, n)?;
            } else if kind.is_file() && text.contains(".log") {
                let to = dest.join(rel);
                std::fs::create_dir_all(&to).map_err(io(&to))?;
                std::fs::copy(&path, to.join(&name)).map_err(io(&path))?;
                *n += 1;
            }
        }
        Ok(())
    }
    let mut n = 0;
    walk(&site.state_dir, Path::new(""), dest, 0, &mut n)?;
    Ok(n)
}

/// Stops and removes every container, host, link and directory of the local cluster, by
/// name and pid. Idempotent.
pub fn down(site: &Site, reporter: &mut dyn Reporter) -> Result<(), LocalError> {
    for id in container_ids(site) {
        // A graceful stop is not needed: the whole cluster goes.
        let _ = run(reporter, "runc", &["kill", &id, "KILL"]);
        run(reporter, "runc", &["delete", "--force", &id])?;
    }
    reporter.step(&format!(
        "removing hosts {0}-h*, bridge {0}-br",
        site.prefix
    ));
    ovn_ha_testbed::teardown_by_name(&site.prefix)?;
    let state = site.state_dir.as_path();
    if state.exists() {
        std::fs::remove_dir_all(state).map_err(io(state))?;
    }
    Ok(())
}

/// Runs `cmd` inside host `name`'s container (`runc exec`), returning its output.
pub fn exec_in(host: &str, cmd: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("runc")
        .arg("exec")
        .arg(host)
        .args(cmd)
        .stdin(Stdio::null())
        .output()
}

/// One line per host: container state.
pub fn container_states(site: &Site) -> Vec<(String, String)> {
    running_hosts(site)
        .into_iter()
        .map(|h| {
            let state = Command::new("runc")
                .args(["state", &h])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
                .and_then(|v| Some(format!("{} (pid {})", v["status"].as_str()?, v["pid"])))
                .unwrap_or_else(|| "no container".into());
            (h, state)
        })
        .collect()
}

/// The container's status as runc reports it (`running`, `stopped`, …), if it exists.
pub fn container_status(host: &str) -> Option<String> {
    let out = Command::new("runc").args(["state", host]).output().ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["status"].as_str().map(str::to_string)
}

/// Waits (bounded) until the host's container has stopped; whether it did.
pub fn wait_stopped(host: &str, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if container_status(host).is_none_or(|s| s == "stopped") {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Restarts a host's container from its bundle, as a kubelet restarts a pod's container that
/// exited (restartPolicy Always): the old one is deleted, the same configuration runs again.
pub fn restart_host(
    site: &Site,
    host: &str,
    reporter: &mut dyn Reporter,
) -> Result<(), LocalError> {
    run(reporter, "runc", &["delete", "--force", host])?;
    let bundle = site.state_dir.join("bundles").join(host);
    let log = site.state_dir.join("logs").join(format!("{host}.log"));
    start_container(host, &bundle, &log, reporter)
}
