//! A rolling upgrade of the running local cluster to another image, the way a Deployment's
//! rolling update with `maxUnavailable: 1` replaces pods: one host at a time, each waited for
//! until the cluster has converged again, the standbys first and the host of the promoted copy
//! last (its SIGTERM hands the copy over to an upgraded standby), then a bounded wait until every
//! copy serves the new image's schemas (the OCF agent converts online once every node runs the
//! new image); and its rollback to the older image, in the same order, after which every copy
//! still serves the newer schemas (never converted downwards). Shared by the fault suite's
//! upgrade scenario and `cargo xtask bench failover`.

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
        "a rollback starts on a standby, and {active} is the only running host: start the other DB hosts first"
    )]
    NoStandby { active: String },
    #[error("not every copy serves the schemas {want:?} {limit:?} after the last host: {served:?}")]
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
    /// The NB and SB schema versions every copy serves at the end (the new image's after an
    /// upgrade, the kept ones after a rollback).
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
    replace_all(site, image, active, reporter)
}

/// What a rollback to an image with an older Pacemaker did.
#[derive(Debug, Clone)]
pub struct RolledBack {
    /// The first pod put back on the older image, a standby's.
    pub first: String,
    /// Whether that pod exited on its own (its Pacemaker refused to join a newer DC) instead
    /// of joining; the rollback then stops every pod and starts them all on the older image.
    pub refused: bool,
    /// Whether the other two copies still had an active while the first pod was out.
    pub served_meanwhile: bool,
    /// From stopping the remaining pods until the cluster had converged on the older image.
    pub all_at_once: Option<Duration>,
    /// The NB and SB schema versions every copy serves at the end.
    pub schemas: [String; 2],
}

/// How long the first pod of a rollback is watched: it joins (converges) or exits.
const FIRST_POD_LIMIT: Duration = Duration::from_secs(60);

/// A rollback (`kubectl rollout undo`) to the older `image`. Pacemaker runs rolling upgrades
/// only one way: a node whose feature set is older than the DC's may not join (its controller
/// exits, "incompatible with DC's", and pacemakerd stays down), so the first pod put back on an
/// older Pacemaker exits and the Deployment's rollout stalls there while the other two copies
/// serve. This does what an operator then does: stop every pod and start them all on the older
/// image (scale to 0, then back). If the first pod joins instead (no feature-set change), the
/// rest follow one by one as in [`rolling`]. Either way every copy keeps the schemas the active
/// serves now: nothing is converted downwards.
pub fn rollback(
    site: &Site,
    image: &str,
    active: &str,
    reporter: &mut dyn Reporter,
) -> Result<RolledBack, UpgradeError> {
    let kept = serving(active)?;
    let rootfs = crate::rootfs_cache::unpacked(image, reporter)?;
    let order = standbys_first(site, active);
    let hosts = order.len();
    // `order` ends with the active: with it alone there is no standby to start on.
    let first = match order.as_slice() {
        [first, _, ..] => first.clone(),
        _ => {
            return Err(UpgradeError::NoStandby {
                active: active.to_owned(),
            });
        }
    };
    reporter.step(&format!("putting {first} back on {image}"));
    cluster::replace_image(site, &first, &rootfs, STOP_LIMIT, reporter)?;
    // Joined (converged) or refused (its container exited), whichever shows first.
    let mut refused = false;
    let settled = poll(FIRST_POD_LIMIT, || {
        refused = cluster::container_status(&first).is_none_or(|s| s == "stopped");
        refused || observe::converged(&observe::sample(site), hosts)
    });
    if settled.is_none() {
        return Err(UpgradeError::NoConvergence {
            host: first,
            hosts,
            limit: FIRST_POD_LIMIT,
        });
    }
    let joined = !refused;
    let served_meanwhile = observe::active_host(&observe::sample(site)).is_some();
    let mut all_at_once = None;
    if joined {
        for host in &order[1..] {
            replace_and_converge(site, host, &rootfs, hosts, reporter)?;
        }
    } else {
        reporter.step(&format!(
            "{first} exited on the older image: stopping every pod, then starting all on it"
        ));
        let t = Instant::now();
        for host in &order[1..] {
            cluster::stop_host(host, STOP_LIMIT, reporter)?;
        }
        for host in &order {
            cluster::start_on_image(site, host, &rootfs, reporter)?;
        }
        if poll(CONVERGE_LIMIT, || {
            observe::converged(&observe::sample(site), hosts)
        })
        .is_none()
        {
            return Err(UpgradeError::NoConvergence {
                host: order.join(", "),
                hosts,
                limit: CONVERGE_LIMIT,
            });
        }
        all_at_once = Some(t.elapsed());
    }
    await_schemas(&order, &kept)?;
    Ok(RolledBack {
        first,
        refused: !joined,
        served_meanwhile,
        all_at_once,
        schemas: kept,
    })
}

/// The NB and SB schema versions `host` serves.
fn serving(host: &str) -> Result<[String; 2], UpgradeError> {
    let [nb, sb] = Db::BOTH.map(|db| served_schema(host, db));
    match (nb, sb) {
        (Some(nb), Some(sb)) => Ok([nb, sb]),
        _ => Err(UpgradeError::Schema {
            path: format!("{host}'s servers"),
            error: "they do not say which schemas they serve".into(),
        }),
    }
}

/// The running hosts, `active` last.
fn standbys_first(site: &Site, active: &str) -> Vec<String> {
    let mut order: Vec<String> = cluster::running_hosts(site)
        .into_iter()
        .filter(|h| h != active)
        .collect();
    order.push(active.to_owned());
    order
}

/// Replaces `host`'s pod by the same pod on `rootfs` and waits until the cluster converged.
fn replace_and_converge(
    site: &Site,
    host: &str,
    rootfs: &Path,
    hosts: usize,
    reporter: &mut dyn Reporter,
) -> Result<(), UpgradeError> {
    cluster::replace_image(site, host, rootfs, STOP_LIMIT, reporter)?;
    if poll(CONVERGE_LIMIT, || {
        observe::converged(&observe::sample(site), hosts)
    })
    .is_none()
    {
        return Err(UpgradeError::NoConvergence {
            host: host.to_owned(),
            hosts,
            limit: CONVERGE_LIMIT,
        });
    }
    Ok(())
}

/// Waits (bounded) until every host serves `schemas`.
fn await_schemas(order: &[String], schemas: &[String; 2]) -> Result<Duration, UpgradeError> {
    let t = Instant::now();
    let served = |host: &String| Db::BOTH.map(|db| served_schema(host, db));
    let on = |host: &String| {
        served(host)
            .iter()
            .zip(schemas)
            .all(|(got, want)| got.as_deref() == Some(want.as_str()))
    };
    if poll(SCHEMA_LIMIT, || order.iter().all(on)).is_none() {
        return Err(UpgradeError::NotConverted {
            want: schemas.clone(),
            limit: SCHEMA_LIMIT,
            served: order.iter().map(|h| (h.clone(), served(h))).collect(),
        });
    }
    Ok(t.elapsed())
}

/// Replaces every host by the same pod on `image`, standbys first, and waits until every copy
/// serves the image's schemas.
fn replace_all(
    site: &Site,
    image: &str,
    active: &str,
    reporter: &mut dyn Reporter,
) -> Result<Upgraded, UpgradeError> {
    let rootfs = crate::rootfs_cache::unpacked(image, reporter)?;
    let schemas = image_schemas(&rootfs)?;
    let order = standbys_first(site, active);
    let hosts = order.len();
    let mut replaced = Vec::new();
    for host in &order {
        let t = Instant::now();
        reporter.step(&format!("replacing {host} by the same pod on {image}"));
        replace_and_converge(site, host, &rootfs, hosts, reporter)?;
        replaced.push((host.clone(), t.elapsed()));
    }
    let converted_after = await_schemas(&order, &schemas)?;
    Ok(Upgraded {
        replaced,
        schemas,
        converted_after,
    })
}
