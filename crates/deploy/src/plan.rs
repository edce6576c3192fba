//! The deployment plan: which objects are applied in which order, and what is awaited between
//! stages. Computed from the manifests' text alone.

use crate::error::PlanError;
use crate::objects::{Object, parse_manifest};
use std::path::Path;

/// The rendered files, in the order their stages run.
pub const FILES: &[&str] = &[
    "ovn-setup.yaml",
    "ovnkube-db-ha.yaml",
    "ovnkube-master.yaml",
    "ovnkube-node.yaml",
];

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
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        let mut out = String::new();
        for (i, stage) in self.stages.iter().enumerate() {
            out.push_str(&format!("# stage {}: {}\n", i + 1, stage.name));
            for o in &stage.objects {
                out.push_str("---\n");
                out.push_str(&serde_norway::to_string(&o.value)?);
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
