//! The bounded wait for the databases: kube-runtime watches of the DB Deployment and of its
//! Service's Endpoints, until the Deployment reports every replica available and the Endpoints
//! list the VIP. What the watches saw is folded into [`Seen`], a pure state with its own tests;
//! [`wait_for_db`] only feeds it events and reports progress.
//!
//! Errors: before an object's watch has listed it once, a failed request ends the wait with the
//! object named (a missing permission or namespace does not heal by waiting). After that the
//! watcher re-lists with its default backoff, and the overall timeout still bounds the wait.

use crate::cluster::{Options, Progress, api};
use crate::error::ClusterError;
use crate::kinds;
use crate::plan::DbRequirements;
use futures::{StreamExt, stream};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use std::time::Instant;

/// Whether a Deployment reports all its replicas available.
pub fn deployment_available(status: &Value, replicas: u32) -> bool {
    status["availableReplicas"].as_u64().unwrap_or(0) >= u64::from(replicas)
}

/// Whether an Endpoints object lists at least one ready address.
pub fn endpoints_ready(value: &Value) -> bool {
    value["subsets"].as_array().is_some_and(|s| {
        s.iter()
            .any(|ss| ss["addresses"].as_array().is_some_and(|a| !a.is_empty()))
    })
}

/// Which of the two watched objects an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    Deployment,
    Endpoints,
}

/// What to do with a watch error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// The object was never listed: waiting does not help, stop and name it.
    Stop,
    /// The watch had worked: the watcher re-lists after its backoff.
    Retry,
}

/// What the watches have shown so far (pure).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The Deployment's `status` (Null while absent).
    pub deployment: Option<Value>,
    /// The Endpoints object (Null while absent).
    pub endpoints: Option<Value>,
}

impl Seen {
    /// Records one watch result: the object as it is now, or `None` when it does not exist.
    pub fn update(&mut self, which: Watched, object: Option<&Value>) {
        match which {
            Watched::Deployment => {
                self.deployment = Some(object.map_or(Value::Null, |o| o["status"].clone()));
            }
            Watched::Endpoints => self.endpoints = Some(object.cloned().unwrap_or(Value::Null)),
        }
    }

    /// Pods the Deployment reports available.
    pub fn available(&self) -> u64 {
        self.deployment
            .as_ref()
            .and_then(|s| s["availableReplicas"].as_u64())
            .unwrap_or(0)
    }

    /// Whether the Endpoints list an address.
    pub fn has_endpoint(&self) -> bool {
        self.endpoints.as_ref().is_some_and(endpoints_ready)
    }

    /// Whether the wait is over.
    pub fn done(&self, replicas: u32) -> bool {
        self.deployment
            .as_ref()
            .is_some_and(|s| deployment_available(s, replicas))
            && self.has_endpoint()
    }

    /// A watch of `which` failed.
    pub fn on_error(&self, which: Watched) -> OnError {
        let listed = match which {
            Watched::Deployment => self.deployment.is_some(),
            Watched::Endpoints => self.endpoints.is_some(),
        };
        if listed {
            OnError::Retry
        } else {
            OnError::Stop
        }
    }
}

/// One object's watch (kube-runtime's `watch_object`: the object, or `None` while it does not
/// exist) as (which, result) items; failed requests are paced by the watcher's default backoff.
fn watch(
    api: Api<DynamicObject>,
    name: &str,
    which: Watched,
) -> impl futures::Stream<Item = (Watched, Result<Option<DynamicObject>, watcher::Error>)> {
    watcher::watch_object(api, name)
        .default_backoff()
        .map(move |result| (which, result))
}

/// Watches until the DB Deployment is available and its Service has an endpoint, or the
/// timeout.
pub async fn wait_for_db(
    client: &Client,
    db: &DbRequirements,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<(), ClusterError> {
    let start = Instant::now();
    let deployment = api(client, kinds::DEPLOYMENT, Some(&db.namespace));
    let endpoints = api(client, kinds::ENDPOINTS, Some(&db.namespace));
    let mut events = std::pin::pin!(stream::select(
        watch(deployment, &db.deployment, Watched::Deployment),
        watch(endpoints, &db.service, Watched::Endpoints),
    ));
    let describe = |which: Watched| match which {
        Watched::Deployment => format!("Deployment {}/{}", db.namespace, db.deployment),
        Watched::Endpoints => format!("Endpoints {}/{}", db.namespace, db.service),
    };
    let mut seen = Seen::default();
    let watching = async {
        // Bounded by the timeout around it; the watcher's stream never ends by itself.
        while let Some((which, result)) = events.next().await {
            match result {
                Ok(object) => seen.update(which, object.as_ref().map(|o| &o.data)),
                Err(e) => match seen.on_error(which) {
                    OnError::Stop => {
                        return Err(ClusterError::Watch {
                            object: describe(which),
                            source: e,
                        });
                    }
                    OnError::Retry => {
                        progress.waiting(&format!(
                            "watch of {} failed ({e}); re-listing",
                            describe(which)
                        ));
                        continue;
                    }
                },
            }
            if seen.done(db.replicas) {
                progress.step(&format!(
                    "databases available ({}/{} pods, VIP endpoint published)",
                    seen.available(),
                    db.replicas
                ));
                return Ok(());
            }
            progress.waiting(&format!(
                "waiting for the databases: {}/{} pods available, endpoint {} ({} s)",
                seen.available(),
                db.replicas,
                if seen.has_endpoint() {
                    "published"
                } else {
                    "missing"
                },
                start.elapsed().as_secs()
            ));
        }
        Ok(())
    };
    match tokio::time::timeout(options.wait_timeout, watching).await {
        Ok(result) => result,
        Err(_) => Err(ClusterError::Timeout {
            what: format!(
                "Deployment {}/{} to be available ({}/{} pods) and Service {} to have its endpoint",
                db.namespace,
                db.deployment,
                seen.available(),
                db.replicas,
                db.service
            ),
            seconds: options.wait_timeout.as_secs(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn folds_watch_events_into_the_wait_state() {
        let dep = |n: u64| json!({"status": {"availableReplicas": n}});
        let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.100"}]}]});
        let no_ep = json!({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.100"}]}]});
        // (events in order, done with 3 replicas, available, endpoint)
        type Events<'a> = &'a [(Watched, Option<&'a Value>)];
        let table: &[(Events, bool, u64, bool)] = &[
            (&[], false, 0, false),
            (&[(Watched::Deployment, None)], false, 0, false),
            (&[(Watched::Deployment, Some(&dep(3)))], false, 3, false),
            (&[(Watched::Endpoints, Some(&ep))], false, 0, true),
            (
                &[
                    (Watched::Deployment, Some(&dep(2))),
                    (Watched::Endpoints, Some(&ep)),
                ],
                false,
                2,
                true,
            ),
            (
                &[
                    (Watched::Deployment, Some(&dep(3))),
                    (Watched::Endpoints, Some(&no_ep)),
                ],
                false,
                3,
                false,
            ),
            (
                &[
                    (Watched::Deployment, Some(&dep(3))),
                    (Watched::Endpoints, Some(&ep)),
                ],
                true,
                3,
                true,
            ),
            // Deleted after being ready: not done any more.
            (
                &[
                    (Watched::Deployment, Some(&dep(3))),
                    (Watched::Endpoints, Some(&ep)),
                    (Watched::Endpoints, None),
                ],
                false,
                3,
                false,
            ),
        ];
        for (events, done, available, endpoint) in table {
            let mut seen = Seen::default();
            for (which, object) in *events {
                seen.update(*which, *object);
            }
            assert_eq!(seen.done(3), *done, "{events:?}");
            assert_eq!(seen.available(), *available, "{events:?}");
            assert_eq!(seen.has_endpoint(), *endpoint, "{events:?}");
        }
    }

    #[test]
    fn a_watch_error_stops_only_before_the_object_was_listed() {
        let mut seen = Seen::default();
        assert_eq!(seen.on_error(Watched::Deployment), OnError::Stop);
        assert_eq!(seen.on_error(Watched::Endpoints), OnError::Stop);
        seen.update(Watched::Deployment, None);
        assert_eq!(seen.on_error(Watched::Deployment), OnError::Retry);
        assert_eq!(seen.on_error(Watched::Endpoints), OnError::Stop);
    }
}
