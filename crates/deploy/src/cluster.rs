//! Talking to the API server: server-side apply, create-if-absent, node labelling, deletion, and
//! the deployment's order around the bounded wait for the databases ([`crate::db_wait`]). Thin
//! async wrappers over kube-rs; all decisions are in the plan.

use crate::error::ClusterError;
use crate::kinds::{self, KindInfo};
use crate::objects::{ApplyMode, Object};
use crate::plan::{CreateOnlyAction, Plan, create_only_action, create_only_report};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, core::ApiResource};
use serde_json::json;
use std::time::Duration;

/// The field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "ovndb-ha";

/// Reports progress to whoever runs the deployment (a progress bar in xtask).
pub trait Progress {
    /// A step starts or finishes.
    fn step(&mut self, text: &str);
    /// Still waiting; `text` says for what and how far.
    fn waiting(&mut self, text: &str);
}

/// How to deploy.
#[derive(Debug, Clone)]
pub struct Options {
    /// Nodes to label for the DB pods first.
    pub label_nodes: Vec<String>,
    /// Longest wait for the databases.
    pub wait_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            label_nodes: Vec::new(),
            wait_timeout: Duration::from_secs(600),
        }
    }
}

/// The dynamic API of `kind`, in `namespace` or cluster-wide.
pub(crate) fn api(client: &Client, kind: &KindInfo, namespace: Option<&str>) -> Api<DynamicObject> {
    let ar: ApiResource = kind.api_resource();
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

fn api_error(action: &'static str, object: String) -> impl FnOnce(kube::Error) -> ClusterError {
    move |source| ClusterError::Api {
        action,
        object,
        source,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Server-side apply of one object, forcing ownership of its fields.
pub async fn apply(client: &Client, obj: &Object) -> Result<(), ClusterError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api(client, obj.kind, obj.namespace.as_deref())
        .patch(&obj.name, &params, &Patch::Apply(&obj.value))
        .await
        .map_err(api_error("apply", obj.describe()))?;
    Ok(())
}

fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_already_exists())
}

/// The cluster's copy of `obj`, if any.
async fn read_opt(
    api: &Api<DynamicObject>,
    obj: &Object,
) -> Result<Option<DynamicObject>, ClusterError> {
    api.get_opt(&obj.name)
        .await
        .map_err(api_error("read", obj.describe()))
}

/// Creates a create-only object when the cluster lacks it and never changes an existing one: a
/// read, then a create (POST, field manager [`FIELD_MANAGER`]) only if it was absent, which
/// fails rather than replace one created meanwhile. Returns what [`create_only_action`]
/// decided from the cluster's copy.
pub async fn create_if_absent(
    client: &Client,
    obj: &Object,
) -> Result<CreateOnlyAction, ClusterError> {
    let api = api(client, obj.kind, obj.namespace.as_deref());
    let existing = read_opt(&api, obj).await?;
    let action = create_only_action(&obj.value, existing.as_ref().map(|o| &o.data));
    if action != CreateOnlyAction::Create {
        return Ok(action);
    }
    let new: DynamicObject =
        serde_json::from_value(obj.value.clone()).map_err(|source| ClusterError::Encode {
            object: obj.describe(),
            source,
        })?;
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    match api.create(&params, &new).await {
        Ok(_) => Ok(CreateOnlyAction::Create),
        // Someone created it between the read and the create: theirs stays.
        Err(e) if is_already_exists(&e) => match read_opt(&api, obj).await? {
            Some(now) => Ok(create_only_action(&obj.value, Some(&now.data))),
            None => Err(api_error("create", obj.describe())(e)),
        },
        Err(e) => Err(api_error("create", obj.describe())(e)),
    }
}

/// Deletes one object; returns whether it existed.
pub async fn delete(client: &Client, obj: &Object) -> Result<bool, ClusterError> {
    match api(client, obj.kind, obj.namespace.as_deref())
        .delete(&obj.name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(api_error("delete", obj.describe())(e)),
    }
}

/// Labels the named nodes `key=value` (a merge patch of their labels only).
pub async fn label_nodes(
    client: &Client,
    names: &[String],
    key: &str,
    value: &str,
) -> Result<(), ClusterError> {
    let nodes = api(client, &kinds::NODE, None);
    let patch = json!({ "metadata": { "labels": { key: value } } });
    for name in names {
        match nodes
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Err(ClusterError::NoSuchNode(name.clone())),
            Err(e) => return Err(api_error("label", format!("Node {name}"))(e)),
        }
    }
    Ok(())
}

/// Counts the nodes carrying `key=value`.
pub async fn count_labelled(
    client: &Client,
    key: &str,
    value: &str,
) -> Result<usize, ClusterError> {
    let list = api(client, &kinds::NODE, None)
        .list(&ListParams::default().labels(&format!("{key}={value}")))
        .await
        .map_err(api_error("list", format!("Nodes with {key}={value}")))?;
    Ok(list.items.len())
}

/// Labels (if asked), checks there are enough DB nodes, applies every stage in order (a
/// create-only object only when absent) and waits for the databases before the control plane.
pub async fn deploy(
    client: &Client,
    plan: &Plan,
    options: &Options,
    progress: &mut dyn Progress,
) -> Result<(), ClusterError> {
    let (key, value) = &plan.db.node_label;
    if !options.label_nodes.is_empty() {
        label_nodes(client, &options.label_nodes, key, value).await?;
        progress.step(&format!(
            "labelled {} node(s) {key}={value}",
            options.label_nodes.len()
        ));
    }
    let have = count_labelled(client, key, value).await?;
    if have < plan.db.replicas as usize {
        return Err(ClusterError::TooFewLabelledNodes {
            have,
            need: plan.db.replicas,
            label: format!("{key}={value}"),
        });
    }
    for stage in &plan.stages {
        for obj in &stage.objects {
            match obj.apply {
                ApplyMode::Apply => {
                    apply(client, obj).await?;
                    progress.step(&format!("applied {}", obj.describe()));
                }
                ApplyMode::CreateOnly => {
                    let action = create_if_absent(client, obj).await?;
                    progress.step(&create_only_report(obj, action, &plan.db));
                }
            }
        }
        if stage.wait_for_db {
            crate::db_wait::wait_for_db(client, &plan.db, options, progress).await?;
        }
    }
    Ok(())
}

/// Deletes every object of the plan in reverse order; absent objects are skipped.
pub async fn delete_all(
    client: &Client,
    plan: &Plan,
    progress: &mut dyn Progress,
) -> Result<(), ClusterError> {
    for obj in plan.deletion_order() {
        let existed = delete(client, obj).await?;
        progress.step(&format!(
            "{} {}",
            if existed { "deleted" } else { "absent:" },
            obj.describe()
        ));
    }
    Ok(())
}
