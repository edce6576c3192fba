//! What every end-to-end run against a local cluster shares — the fault suite, chaos, the
//! backup test: one machine-wide lock so no two clusters run at once (they would compete for
//! two cores and skew each other's timings), manifests rendered for a site with a fixed
//! authkey, and a cluster that is removed by name when its handle is dropped, also on panic.
//!
//! Sites (`Site::named`), one per kind of run so that none clashes with another's leftovers:
//! `cargo xtask deploy` 0 (`Site::local`), the fault suite `e2e` 20, the benchmarks `bench` 30
//! and 31, chaos `chaos` 40, the backup test `bkp` 50.

use crate::cluster::{self, LocalError, Reporter, Site, UpOptions, UpReport};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file every end-to-end run and benchmark holds exclusively while its cluster runs.
pub const LOCK_FILE: &str = "/run/lock/ovn-ha-e2e.lock";
/// Where the lock goes when `/run/lock` does not exist.
const LOCK_FALLBACK: &str = "/tmp/ovn-ha-e2e.lock";

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum E2eError {
    #[error("cannot lock {LOCK_FILE}: {0}")]
    Lock(std::io::Error),
    #[error("no image at {0}: run `cargo xtask image` (`cargo xtask test` does)")]
    NoImage(PathBuf),
    #[error(
        "no {suite} image at {layout}: run `cargo xtask image --suite {suite}` (`cargo xtask test` does)"
    )]
    NoSuiteImage { suite: String, layout: PathBuf },
    #[error("the manifests for the test site: {0}")]
    Render(String),
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// Takes the machine-wide lock, waiting for whoever holds it; `waiting` is called once first
/// if it must wait.
pub fn lock(waiting: impl FnOnce()) -> Result<Flock<File>, E2eError> {
    let file = File::create(LOCK_FILE)
        .or_else(|_| File::create(LOCK_FALLBACK))
        .map_err(E2eError::Lock)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(l),
        Err((file, _)) => {
            waiting();
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| E2eError::Lock(e.into()))
        }
    }
}

/// Renders the manifests for `site` into `dir`, with a fixed authkey (the cluster lives for
/// one run on this machine's own bridge); returns the validated configuration.
pub fn render(site: &Site, dir: &Path) -> Result<ovn_ha_config::Config, E2eError> {
    render_with(site, dir, false).map(|(config, _)| config)
}

/// [`render`], with `tls` as `--ssl` does it: fresh certificates in the Secrets, and the
/// client's key, certificate and CA (ovn-controller's, as ovnkube-node uses them) written under
/// `dir/client-tls`; returns the configuration and the `ovn-nbctl` options that use those files
/// (none without TLS).
pub fn render_with(
    site: &Site,
    dir: &Path,
    tls: bool,
) -> Result<(ovn_ha_config::Config, Vec<String>), E2eError> {
    let mut input = ovn_ha_config::RenderInput {
        db_vip: Some(site.vip_cidr()),
        ..Default::default()
    };
    input.upstream.ssl = tls;
    let config = input
        .validate()
        .map_err(|p| E2eError::Render(p.to_string()))?
        .config;
    let key: Vec<u8> = (0..256u32).map(|i| (i * 7 + 3) as u8).collect();
    let render_error = |e: &dyn std::fmt::Display| E2eError::Render(e.to_string());
    let pki = if tls {
        Some(ovn_ha_render::pki::generate().map_err(|e| render_error(&e))?)
    } else {
        None
    };
    let files = ovn_ha_render::render_all(&config, Some(&key), pki.as_ref())
        .map_err(|e| render_error(&e))?;
    ovn_ha_render::write_atomically(dir, &files).map_err(|e| render_error(&e))?;
    let ssl = match &pki {
        Some(p) => client_files(&dir.join("client-tls"), p)?,
        None => Vec::new(),
    };
    Ok((config, ssl))
}

/// Writes the client's TLS files into `dir`; the `ovn-nbctl` options naming them.
fn client_files(dir: &Path, pki: &ovn_ha_render::pki::Pki) -> Result<Vec<String>, E2eError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| E2eError::Local(LocalError::Io { path, source })
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let mut options = Vec::new();
    for (option, file) in [
        ("--private-key", "ovncontroller-privkey.pem"),
        ("--certificate", "ovncontroller-cert.pem"),
        ("--ca-cert", ovn_ha_render::pki::CA_CERT),
    ] {
        let text = pki
            .client
            .get(file)
            .ok_or_else(|| E2eError::Render(format!("the rendered TLS material has no {file}")))?;
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(io(&path))?;
        options.push(format!("{option}={}", path.display()));
    }
    Ok(options)
}

/// The image layout `cargo xtask image` builds in the workspace, if it is there.
pub fn image_layout() -> Result<PathBuf, E2eError> {
    let layout = crate::workspace::image_layout(&crate::workspace::root());
    if layout.join("index.json").is_file() {
        Ok(layout)
    } else {
        Err(E2eError::NoImage(layout))
    }
}

/// The image layout of the rolling upgrade's newer suite
/// ([`crate::workspace::UPGRADE_SUITE`]), as `image:TAG` for umoci, if it is built.
pub fn upgrade_image() -> Result<String, E2eError> {
    let suite = crate::workspace::UPGRADE_SUITE;
    let layout = crate::workspace::suite_image_layout(&crate::workspace::root(), suite);
    if layout.join("index.json").is_file() {
        Ok(format!("{}:latest", layout.display()))
    } else {
        Err(E2eError::NoSuiteImage {
            suite: suite.to_owned(),
            layout,
        })
    }
}

/// Prints the cluster's steps, indented, and not its commands.
#[derive(Debug)]
pub struct Quiet;

impl Reporter for Quiet {
    fn step(&mut self, text: &str) {
        eprintln!("  {text}");
    }
    fn command(&mut self, _line: &str) {}
}

/// A running test cluster, removed (by name) when dropped.
#[derive(Debug)]
pub struct TestCluster {
    /// Its site.
    pub site: Site,
    /// The NB remote at the VIP (`tcp:VIP:6641`, or `ssl:` with TLS).
    pub remote: String,
    /// `ovn-nbctl`'s options for the `ssl:` remote (empty without TLS).
    pub ssl: Vec<String>,
    /// How the start went.
    pub report: UpReport,
    _manifests: tempfile::TempDir,
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Err(e) = cluster::down(&self.site, &mut Quiet) {
            eprintln!("teardown: {e}");
        }
    }
}

/// Brings up `hosts` hosts of `site` from the workspace's image (removing an earlier, killed
/// run's leftovers first) and waits until the VIP takes writes.
pub fn up(site: Site, hosts: usize) -> Result<TestCluster, E2eError> {
    up_with(site, hosts, false)
}

/// [`up`], with every OVN connection over TLS when `tls` (rendered with `--ssl`).
pub fn up_with(site: Site, hosts: usize, tls: bool) -> Result<TestCluster, E2eError> {
    cluster::down(&site, &mut Quiet)?;
    let layout = image_layout()?;
    let manifests = tempfile::tempdir().map_err(|source| LocalError::Io {
        path: std::env::temp_dir(),
        source,
    })?;
    let (config, ssl) = render_with(&site, manifests.path(), tls)?;
    let opts = UpOptions {
        manifests: manifests.path().to_path_buf(),
        image: format!("{}:latest", layout.display()),
        hosts,
        vip: config.vip.addr,
        wait: Duration::from_secs(120),
        extra_env: Vec::new(),
        extra_mounts: Vec::new(),
        realtime: true,
        ssl: ssl.clone(),
    };
    let mut c = TestCluster {
        remote: config.ovn_north(),
        ssl,
        site,
        report: UpReport {
            hosts: Vec::new(),
            bootstrap: Duration::ZERO,
        },
        _manifests: manifests,
    };
    // From here on a failure drops `c`, which removes whatever was started.
    c.report = cluster::up(&c.site, &opts, &mut Quiet)?;
    Ok(c)
}
