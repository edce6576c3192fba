//! Manifest text → typed objects with their kind, name and namespace. Pure.

use crate::error::PlanError;
use crate::kinds::{self, KindInfo};
use serde_json::Value;

/// How an object is written to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Server-side apply, forcing ownership of its fields: the manifests win.
    Apply,
    /// Created when the cluster lacks it, never changed once there (the corosync authkey
    /// Secret: the running DB pods hold its key, and a pod with another key cannot join them).
    CreateOnly,
}

/// One Kubernetes object from a manifest file.
#[derive(Debug, Clone)]
pub struct Object {
    /// The file it came from, for messages.
    pub file: String,
    pub kind: &'static KindInfo,
    pub name: String,
    pub namespace: Option<String>,
    pub value: Value,
    /// How to write it; the plan decides ([`crate::plan::apply_mode`]).
    pub apply: ApplyMode,
}

impl Object {
    /// `Kind namespace/name`, for messages and progress.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind.kind, self.name),
            None => format!("{} {}", self.kind.kind, self.name),
        }
    }
}

/// Parses every YAML document of one manifest file.
pub fn parse_manifest(file: &str, text: &str) -> Result<Vec<Object>, PlanError> {
    let mut out = Vec::new();
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| PlanError::Yaml {
        file: file.into(),
        message: e.to_string(),
    })?;
    for value in docs {
        if value.is_null() {
            continue;
        }
        let field = |path: &[&str]| -> Option<String> {
            let mut v = &value;
            for p in path {
                v = v.get(p)?;
            }
            v.as_str().map(str::to_string)
        };
        let missing = |what: &str| PlanError::MissingField {
            file: file.into(),
            what: what.into(),
        };
        let api_version = field(&["apiVersion"]).ok_or_else(|| missing("apiVersion"))?;
        let kind_name = field(&["kind"]).ok_or_else(|| missing("kind"))?;
        let kind =
            kinds::lookup(&api_version, &kind_name).ok_or_else(|| PlanError::UnknownKind {
                file: file.into(),
                api_version: api_version.clone(),
                kind: kind_name.clone(),
            })?;
        let name = field(&["metadata", "name"]).ok_or_else(|| missing("metadata.name"))?;
        let namespace = field(&["metadata", "namespace"]);
        if kind.namespaced && namespace.is_none() {
            return Err(missing(&format!(
                "metadata.namespace of {kind_name} {name}"
            )));
        }
        let apply = crate::plan::apply_mode(kind, &name);
        out.push(Object {
            file: file.into(),
            kind,
            name,
            namespace,
            value,
            apply,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents_and_skips_empty_ones() {
        let text = "# comment\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: x\n";
        let objs = parse_manifest("f.yaml", text).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].describe(), "ConfigMap x/c");
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", "Pod"),
            ("kind: Namespace\nmetadata:\n  name: p\n", "apiVersion"),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
                "metadata.namespace",
            ),
            ("apiVersion: v1\nkind: [\n", "f.yaml"),
        ];
        for (text, want) in cases {
            let err = parse_manifest("f.yaml", text).unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("f.yaml"), "{err}");
        }
    }
}
