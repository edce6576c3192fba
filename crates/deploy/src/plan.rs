//! The deployment plan: which objects are applied in which order, how each is written (applied,
//! or created only when absent), and what is awaited between stages. Computed from the
//! manifests' text alone; the decisions on what the cluster already holds are pure functions
//! here too, fed by the thin calls in [`crate::cluster`].

use crate::error::PlanError;
use crate::kinds::KindInfo;
use crate::objects::{ApplyMode, Object, parse_manifest};
use serde_json::Value;
use std::path::Path;

/// The rendered files, in the order their stages run.
pub const FILES: &[&str] = &[
    "ovn-setup.yaml",
    "ovnkube-db-ha.yaml",
    "ovnkube-master.yaml",
    "ovnkube-node.yaml",
];

/// Objects created only when the cluster lacks them and never changed afterwards, as (kind,
/// name): the corosync authkey Secret. The running DB pods hold its key and a pod restarted with
/// another one cannot join them, so deploying re-rendered manifests keeps the cluster's copy;
/// rotating the key is a deliberate act (README, Known limits).
pub const CREATE_ONLY: &[(&str, &str)] = &[("Secret", "ovnkube-db-corosync-authkey")];

/// How an object of this kind and name is written.
pub fn apply_mode(kind: &KindInfo, name: &str) -> ApplyMode {
    if CREATE_ONLY
        .iter()
        .any(|(k, n)| *k == kind.kind && *n == name)
    {
        ApplyMode::CreateOnly
    } else {
        ApplyMode::Apply
    }
}

/// What to do with a create-only object, given the cluster's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOnlyAction {
    /// The cluster lacks it: create it.
    Create,
    /// The cluster holds it with the manifests' data: nothing to do.
    KeepSame,
    /// The cluster holds it with other data: keep the cluster's, and say so.
    KeepDifferent,
}

/// Decides for a create-only object from the cluster's copy (`None`: absent) by comparing the
/// `data` of both — a Secret's; the API server never returns `stringData`. `existing` may be
/// the whole object or its fields besides apiVersion, kind and metadata.
pub fn create_only_action(wanted: &Value, existing: Option<&Value>) -> CreateOnlyAction {
    match existing {
        None => CreateOnlyAction::Create,
        Some(e) if e.get("data") == wanted.get("data") => CreateOnlyAction::KeepSame,
        Some(_) => CreateOnlyAction::KeepDifferent,
    }
}

/// The one progress line about a create-only object; for a Secret kept with other data it
/// says why, how to make the manifests match, and what rotating takes.
pub fn create_only_report(obj: &Object, action: CreateOnlyAction, db: &DbRequirements) -> String {
    let what = obj.describe();
    match action {
        CreateOnlyAction::Create => {
            format!("created {what} (it was absent; later deploys never replace it)")
        }
        CreateOnlyAction::KeepSame => format!("kept {what} (the cluster's matches {})", obj.file),
        CreateOnlyAction::KeepDifferent => format!(
            "kept {what} as the cluster holds it: its corosync authkey differs from {file}'s, and \
             deploy never replaces a running cluster's key (re-render with \
             --corosync-authkey-file set to the cluster's key to make {file} match). Rotating it \
             means replacing the Secret and restarting every DB pod of Deployment {ns}/{deployment} \
             at once, a DB outage: a pod with a new key cannot join pods holding the old one",
            file = obj.file,
            ns = db.namespace,
            deployment = db.deployment,
        ),
    }
}

/// What the databases need from the cluster, read from the DB Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbRequirements {
    pub namespace: String,
    pub deployment: String,
    pub replicas: u32,
    /// The node label the Deployment selects, as (key, value).
    pub node_label: (String, String),
    /// The headless Service whose endpoint is the VIP.
    pub service: String,
}

/// One stage: objects applied in order, then an optional wait.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: &'static str,
    pub objects: Vec<Object>,
    /// Wait until the databases are available before the next stage.
    pub wait_for_db: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub stages: Vec<Stage>,
    pub db: DbRequirements,
}

impl Plan {
    /// Builds the plan from `(file name, contents)` of the four rendered files.
    pub fn from_files(files: &[(String, String)]) -> Result<Plan, PlanError> {
        let text = |name: &str| -> Result<Vec<Object>, PlanError> {
            let (_, t) = files
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| PlanError::MissingFile(name.into()))?;
            parse_manifest(name, t)
        };
        let mut first = text(FILES[0])?;
        first.extend(text(FILES[1])?);
        // Stable sort: objects of one kind keep their file order.
        first.sort_by_key(|o| o.kind.rank);
        let db = db_requirements(&first)?;
        Ok(Plan {
            stages: vec![
                Stage {
                    name: "setup and databases",
                    objects: first,
                    wait_for_db: true,
                },
                Stage {
                    name: "ovnkube-master",
                    objects: text(FILES[2])?,
                    wait_for_db: false,
                },
                Stage {
                    name: "ovnkube-node",
                    objects: text(FILES[3])?,
                    wait_for_db: false,
                },
            ],
            db,
        })
    }

    /// Reads the four files from a directory.
    pub fn from_dir(dir: &Path) -> Result<Plan, PlanError> {
        let mut files = Vec::new();
        for name in FILES {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(PlanError::MissingFile(path));
            }
            let text = std::fs::read_to_string(&path).map_err(|source| PlanError::Read {
                path: path.clone(),
                source,
            })?;
            files.push(((*name).to_string(), text));
        }
        Plan::from_files(&files)
    }

    /// Every object in apply order.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.stages.iter().flat_map(|s| s.objects.iter())
    }

    /// Every object in delete order: the reverse of applying.
    pub fn deletion_order(&self) -> Vec<&Object> {
        let mut v: Vec<&Object> = self.objects().collect();
        v.reverse();
        v
    }

    /// The objects in apply order as one YAML stream, each stage introduced by a comment.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::ser_error::Error> {
        let mut out = String::new();
        for (i, stage) in self.stages.iter().enumerate() {
            out.push_str(&format!("# stage {}: {}\n", i + 1, stage.name));
            for o in &stage.objects {
                out.push_str("---\n");
                if o.apply == ApplyMode::CreateOnly {
                    out.push_str(
                        "# created only if absent: deploy never replaces the cluster's copy\n",
                    );
                }
                out.push_str(&serde_saphyr::to_string(&o.value)?);
            }
            if stage.wait_for_db {
                out.push_str(&format!(
                    "# then wait until Deployment {}/{} is available and Service {} has its endpoint\n",
                    self.db.namespace, self.db.deployment, self.db.service
                ));
            }
        }
        Ok(out)
    }
}

/// Finds the DB Deployment (the one with a node selector) and reads what it needs.
fn db_requirements(objects: &[Object]) -> Result<DbRequirements, PlanError> {
    let bad = |m: &str| PlanError::DbDeployment(m.into());
    let d = objects
        .iter()
        .find(|o| o.kind.kind == "Deployment" && o.file == FILES[1])
        .ok_or_else(|| bad("no Deployment"))?;
    let spec = &d.value["spec"];
    let replicas = spec["replicas"]
        .as_u64()
        .and_then(|r| u32::try_from(r).ok())
        .ok_or_else(|| bad("spec.replicas is missing"))?;
    let selector = spec["template"]["spec"]["nodeSelector"]
        .as_object()
        .and_then(|m| m.iter().next())
        .and_then(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .ok_or_else(|| bad("the pod template has no nodeSelector"))?;
    let service = objects
        .iter()
        .find(|o| o.kind.kind == "Service")
        .map(|o| o.name.clone())
        .ok_or_else(|| PlanError::MissingField {
            file: FILES[0].into(),
            what: "Service".into(),
        })?;
    Ok(DbRequirements {
        namespace: d.namespace.clone().unwrap_or_default(),
        deployment: d.name.clone(),
        replicas,
        node_label: selector,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The four files of a seed render with the authkey `[1; 256]`.
    fn seed_files() -> Vec<(String, String)> {
        let config = ovn_ha_config::RenderInput {
            db_vip: Some("10.0.2.100".into()),
            ..Default::default()
        }
        .validate()
        .unwrap()
        .config;
        ovn_ha_render::render_all(&config, Some(&[1u8; 256]), None)
            .unwrap()
            .into_iter()
            .map(|f| (f.name.to_string(), f.contents))
            .collect()
    }

    #[test]
    fn only_the_authkey_secret_is_create_only() {
        assert_eq!(
            CREATE_ONLY,
            [("Secret", ovn_ha_config::db_env::AUTHKEY_SECRET)]
        );
        let plan = Plan::from_files(&seed_files()).unwrap();
        let create_only: Vec<String> = plan
            .objects()
            .filter(|o| o.apply == ApplyMode::CreateOnly)
            .map(Object::describe)
            .collect();
        assert_eq!(
            create_only,
            ["Secret ovn-kubernetes/ovnkube-db-corosync-authkey"]
        );
        let yaml = plan.to_yaml().unwrap();
        let marker = yaml.find("# created only if absent").unwrap();
        let secret = yaml.find("kind: Secret").unwrap();
        assert!(marker < secret);
        assert_eq!(yaml.matches("# created only if absent").count(), 1);
    }

    #[test]
    fn the_clusters_copy_decides() {
        let wanted = json!({"kind": "Secret", "data": {"authkey": "AAAA"}});
        assert_eq!(create_only_action(&wanted, None), CreateOnlyAction::Create);
        // The cluster's copy carries metadata and a type of its own; only data counts.
        let same = json!({"type": "Opaque", "data": {"authkey": "AAAA"}});
        assert_eq!(
            create_only_action(&wanted, Some(&same)),
            CreateOnlyAction::KeepSame
        );
        for other in [
            json!({"data": {"authkey": "BBBB"}}),
            json!({"data": {"authkey": "AAAA", "more": "CCCC"}}),
            json!({"type": "Opaque"}),
        ] {
            assert_eq!(
                create_only_action(&wanted, Some(&other)),
                CreateOnlyAction::KeepDifferent,
                "{other}"
            );
        }
    }

    #[test]
    fn a_kept_key_is_reported_with_how_to_rotate() {
        let plan = Plan::from_files(&seed_files()).unwrap();
        let secret = plan
            .objects()
            .find(|o| o.apply == ApplyMode::CreateOnly)
            .unwrap();
        let line = create_only_report(secret, CreateOnlyAction::KeepDifferent, &plan.db);
        assert!(!line.contains('\n'), "one line: {line}");
        for want in [
            "kept Secret ovn-kubernetes/ovnkube-db-corosync-authkey",
            "differs from ovn-setup.yaml's",
            "--corosync-authkey-file",
            "every DB pod of Deployment ovn-kubernetes/ovnkube-db at once",
        ] {
            assert!(line.contains(want), "{want:?} missing: {line}");
        }
        let created = create_only_report(secret, CreateOnlyAction::Create, &plan.db);
        assert!(created.starts_with("created Secret"), "{created}");
        let same = create_only_report(secret, CreateOnlyAction::KeepSame, &plan.db);
        assert!(same.starts_with("kept Secret"), "{same}");
    }
}
