//! The DB pod template as rendered in `ovnkube-db-ha.yaml`: its one container, environment,
//! mounts and volumes, read from the manifest text. Pure.

use serde_json::Value;

/// Where an environment variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvSource {
    Value(String),
    /// Downward API `fieldRef.fieldPath`.
    Field(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub source: EnvSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub volume: String,
    pub path: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    HostPath {
        path: String,
    },
    EmptyDir {
        memory: bool,
        size_limit: Option<String>,
    },
    Secret {
        secret_name: String,
        default_mode: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

/// What a kubelet would need to run the DB pod's container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodTemplate {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<EnvVar>,
    pub mounts: Vec<VolumeMount>,
    pub volumes: Vec<Volume>,
    pub capabilities_add: Vec<String>,
    pub privileged: bool,
    pub allow_privilege_escalation: bool,
    pub read_only_root: bool,
    pub run_as_user: u32,
    pub host_network: bool,
    pub termination_grace_seconds: u64,
    pub readiness: Vec<String>,
    pub liveness: Vec<String>,
    /// `resources.limits.memory` as written (a Kubernetes quantity), if any.
    pub memory_limit: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("ovnkube-db-ha.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("ovnkube-db-ha.yaml has no Deployment {0}")]
    NoDeployment(String),
    #[error("ovnkube-db-ha.yaml: {0}")]
    Unsupported(String),
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Reads the Deployment `name` from the manifest and its first container.
pub fn parse(manifest: &str, name: &str) -> Result<PodTemplate, TemplateError> {
    let mut deployment = None;
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(manifest).map_err(|e| TemplateError::Yaml(e.to_string()))?;
    for v in docs {
        if v["kind"] == "Deployment" && v["metadata"]["name"] == name {
            deployment = Some(v);
        }
    }
    let d = deployment.ok_or_else(|| TemplateError::NoDeployment(name.into()))?;
    let pod = &d["spec"]["template"]["spec"];
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    let [c] = containers.as_slice() else {
        return Err(TemplateError::Unsupported(format!(
            "the pod has {} containers; the local cluster runs exactly one",
            containers.len()
        )));
    };
    let unsupported = |what: String| TemplateError::Unsupported(what);
    let env = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let name =
                text(&e["name"]).ok_or_else(|| unsupported("an env entry has no name".into()))?;
            let source = if let Some(v) = text(&e["value"]) {
                EnvSource::Value(v)
            } else if let Some(f) = text(&e["valueFrom"]["fieldRef"]["fieldPath"]) {
                EnvSource::Field(f)
            } else {
                return Err(unsupported(format!(
                    "env {name}: only value and fieldRef are supported"
                )));
            };
            Ok(EnvVar { name, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mounts = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            Ok(VolumeMount {
                volume: text(&m["name"])
                    .ok_or_else(|| unsupported("a volumeMount has no name".into()))?,
                path: text(&m["mountPath"])
                    .ok_or_else(|| unsupported("a volumeMount has no mountPath".into()))?,
                read_only: m["readOnly"].as_bool().unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>, TemplateError>>()?;
    let volumes = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            let name =
                text(&v["name"]).ok_or_else(|| unsupported("a volume has no name".into()))?;
            let source = if let Some(p) = text(&v["hostPath"]["path"]) {
                VolumeSource::HostPath { path: p }
            } else if v.get("emptyDir").is_some() {
                VolumeSource::EmptyDir {
                    memory: v["emptyDir"]["medium"] == "Memory",
                    size_limit: text(&v["emptyDir"]["sizeLimit"]),
                }
            } else if let Some(s) = text(&v["secret"]["secretName"]) {
                VolumeSource::Secret {
                    secret_name: s,
                    default_mode: v["secret"]["defaultMode"]
                        .as_u64()
                        .map_or(0o644, |m| m as u32),
                }
            } else {
                return Err(unsupported(format!(
                    "volume {name}: only hostPath, emptyDir and secret are supported"
                )));
            };
            Ok(Volume { name, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for m in &mounts {
        if !volumes.iter().any(|v| v.name == m.volume) {
            return Err(unsupported(format!(
                "volumeMount {} names no volume",
                m.volume
            )));
        }
    }
    let sc = &c["securityContext"];
    let mut command = strings(&c["command"]);
    command.extend(strings(&c["args"]));
    if command.is_empty() {
        return Err(unsupported("the container has no command".into()));
    }
    Ok(PodTemplate {
        image: text(&c["image"]).unwrap_or_default(),
        command,
        env,
        mounts,
        volumes,
        capabilities_add: strings(&sc["capabilities"]["add"]),
        privileged: sc["privileged"].as_bool().unwrap_or(false),
        allow_privilege_escalation: sc["allowPrivilegeEscalation"].as_bool().unwrap_or(true),
        read_only_root: sc["readOnlyRootFilesystem"].as_bool().unwrap_or(false),
        run_as_user: sc["runAsUser"].as_u64().map_or(0, |u| u as u32),
        host_network: pod["hostNetwork"].as_bool().unwrap_or(false),
        termination_grace_seconds: pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30),
        readiness: strings(&c["readinessProbe"]["exec"]["command"]),
        liveness: strings(&c["livenessProbe"]["exec"]["command"]),
        memory_limit: text(&c["resources"]["limits"]["memory"]),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The DB manifest rendered from the seed configuration.
    pub fn seed_manifest() -> String {
        let config = ovn_ha_config::RenderInput {
            db_vip: Some("198.18.0.100/24".into()),
            ..Default::default()
        }
        .validate()
        .unwrap()
        .config;
        let files = ovn_ha_render::render_all(&config, Some(&[1u8; 256]), None).unwrap();
        files
            .into_iter()
            .find(|f| f.name == "ovnkube-db-ha.yaml")
            .unwrap()
            .contents
    }

    #[test]
    fn reads_the_rendered_db_pod() {
        let t = parse(&seed_manifest(), "ovnkube-db").unwrap();
        assert_eq!(t.command, ["/usr/bin/ovnkube-db-ha", "run"]);
        assert!(t.host_network && !t.privileged && !t.allow_privilege_escalation);
        assert_eq!(t.memory_limit.as_deref(), Some("1Gi"));
        assert_eq!(
            t.capabilities_add,
            ["NET_ADMIN", "NET_RAW", "IPC_LOCK", "SYS_NICE"]
        );
        assert!(t.env.contains(&EnvVar {
            name: "OVN_DB_VIP".into(),
            source: EnvSource::Value("198.18.0.100".into())
        }));
        assert!(t.env.contains(&EnvVar {
            name: "K8S_NODE".into(),
            source: EnvSource::Field("spec.nodeName".into())
        }));
        let run = t.volumes.iter().find(|v| v.name == "run").unwrap();
        assert_eq!(
            run.source,
            VolumeSource::EmptyDir {
                memory: true,
                size_limit: None
            }
        );
        let key = t
            .volumes
            .iter()
            .find(|v| v.name == "corosync-authkey")
            .unwrap();
        assert!(matches!(
            &key.source,
            VolumeSource::Secret {
                default_mode: 0o400,
                ..
            }
        ));
        assert_eq!(
            t.readiness,
            ["/usr/bin/ovnkube-db-ha", "probe", "readiness"]
        );
    }

    #[test]
    fn unsupported_shapes_are_named() {
        let cases: &[(&str, &str)] = &[
            ("kind: Service\n", "no Deployment"),
            (
                "kind: Deployment\nmetadata: {name: ovnkube-db}\nspec: {template: {spec: {containers: []}}}\n",
                "0 containers",
            ),
            (
                "kind: Deployment\nmetadata: {name: ovnkube-db}\nspec: {template: {spec: {containers: [{name: c, command: [x], env: [{name: A, valueFrom: {secretKeyRef: {name: s, key: k}}}]}]}}}\n",
                "env A",
            ),
            (
                "kind: Deployment\nmetadata: {name: ovnkube-db}\nspec: {template: {spec: {containers: [{name: c, command: [x], volumeMounts: [{name: v, mountPath: /x}]}]}}}\n",
                "names no volume",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text, "ovnkube-db").unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
