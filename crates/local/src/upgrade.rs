//! A rolling upgrade of the running local cluster to another image, the way a Deployment's
//! rolling update with `maxUnavailable: 1` replaces pods: one host at a time, each waited for
//! until the cluster has converged again, the standbys first and the host of the promoted copy
//! last (its SIGTERM hands the copy over to an upgraded standby), then a bounded wait until every
//! copy serves the new image's schemas (the OCF agent converts online once every node runs the
//! new image). Shared by the fault suite's upgrade scenario and `cargo xtask bench failover`.

use crate::cluster::{self, LocalError, Reporter, Site};
use crate::observe;
use crate::poll::poll;
use ovn_ha_contract::Db;
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest wait for a replaced host's entrypoint to exit after SIGTERM (it hands over first).
const STOP_LIMIT: Duration = Duration::from_secs(60);
/// Longest wait for convergence after each replacement.
const CONVERGE_LIMIT: Duration = Duration::from_secs(120);
/// Longest wait, after the last host, until every copy serves the new schemas.
const SCHEMA_LIMIT: Duration = Duration::from_secs(90);

/// Why an upgrade stopped.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error("{path}: {error}")]
    Schema { path: String, error: String },
    #[error(
        "no convergence to one promoted and {hosts} replicating copies within {limit:?} after replacing {host}"
    )]
    NoConvergence {
        host: String,
        hosts: usize,
        limit: Duration,
    },
    #[error(
        "not every copy serves the new schemas {want:?} {limit:?} after the last host: {served:?}"
    )]
    NotConverted {
        want: [String; 2],
        limit: Duration,
        served: Vec<(String, [Option<String>; 2])>,
    },
}

/// What the upgrade did.
#[derive(Debug, Clone)]
pub struct Upgraded {
    /// Each host in the order replaced, with how long its replacement took to convergence.
    pub replaced: Vec<(String, Duration)>,
    /// The new image's NB and SB schema versions.
    pub schemas: [String; 2],
    /// From the last host's convergence until every copy served them.
    pub converted_after: Duration,
}

/// The schema version `host`'s server of `db` serves (`ovsdb-client get-schema-version` in its
/// container), if it answers.
pub fn served_schema(host: &str, db: Db) -> Option<String> {
    let sock = db.sock(ovn_ha_contract::default_run_dir());
    let target = format!("unix:{}", sock.display());
    let out = cluster::exec_in(
        host,
        &[
            "ovsdb-client",
            "get-schema-version",
            &target,
            db.schema_name(),
        ],
    )
    .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The NB and SB schema versions an unpacked image ships.
pub fn image_schemas(rootfs: &Path) -> Result<[String; 2], UpgradeError> {
    let read = |file: &str| -> Result<String, UpgradeError> {
        let path = rootfs.join("usr/share/ovn").join(file);
        let bad = |error: String| UpgradeError::Schema {
            path: path.display().to_string(),
            error,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        v["version"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| bad("no \"version\"".into()))
    };
    Ok([read("ovn-nb.ovsschema")?, read("ovn-sb.ovsschema")?])
}

/// Replaces every host of `site` (of which `active` holds the promoted copy) by the same pod on
/// `image` (`layout:tag`), standbys first, and waits until every copy serves its schemas.
pub fn rolling(
    site: &Site,
    image: &str,
    active: &str,
    reporter: &mut dyn Reporter,
) -> Result<Upgraded, UpgradeError> {
    let rootfs = crate::rootfs_cache::unpacked(image, reporter)?;
    let schemas = image_schemas(&rootfs)?;
    let mut order: Vec<String> = cluster::running_hosts(site)
        .into_iter()
        .filter(|h| h != active)
        .collect();
    order.push(active.to_owned());
    let hosts = order.len();
    let mut replaced = Vec::new();
    for host in &order {
        let t = Instant::now();
        reporter.step(&format!("replacing {host} by the same pod on {image}"));
        cluster::replace_image(site, host, &rootfs, STOP_LIMIT, reporter)?;
        if poll(CONVERGE_LIMIT, || {
            observe::converged(&observe::sample(site), hosts)
        })
        .is_none()
        {
            return Err(UpgradeError::NoConvergence {
                host: host.clone(),
                hosts,
                limit: CONVERGE_LIMIT,
            });
        }
        replaced.push((host.clone(), t.elapsed()));
    }
    let t = Instant::now();
    let served = |host: &String| Db::BOTH.map(|db| served_schema(host, db));
    let on_new = |host: &String| {
        served(host)
            .iter()
            .zip(&schemas)
            .all(|(got, want)| got.as_deref() == Some(want.as_str()))
    };
    if poll(SCHEMA_LIMIT, || order.iter().all(on_new)).is_none() {
        return Err(UpgradeError::NotConverted {
            want: schemas,
            limit: SCHEMA_LIMIT,
            served: order.iter().map(|h| (h.clone(), served(h))).collect(),
        });
    }
    Ok(Upgraded {
        replaced,
        schemas,
        converted_after: t.elapsed(),
    })
}
