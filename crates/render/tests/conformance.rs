//! Upstream conformance: what ovn-kubernetes' `ovnkube.sh` and go-controller (at the revision in
//! `ovn_ha_config::upstream::REVISION`) require of the ovnkube-master and ovnkube-node pods,
//! written as data in `upstream-conformance.yaml` beside this file (one row per requirement,
//! naming the upstream file it comes from), checked against the rendered manifests of the seed
//! command and of variants. `docs/upstream-conformance.md` mirrors the table; a test keeps the
//! two in step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovn_ha_config::RenderInput;
use ovn_ha_render::{AUTHKEY_LEN, RenderedFile, render_all};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const TABLE: &str = include_str!("upstream-conformance.yaml");

#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    /// The upstream file the requirement comes from.
    source: String,
    requirement: String,
    check: Check,
}

/// A check on the rendered objects. Strings may hold `{placeholders}` of the variant.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Check {
    /// The workload has the container, running exactly this command (command + args).
    Container {
        workload: String,
        container: String,
        command: Vec<String>,
    },
    /// The container sets the variable: to `value`, or from `from` (`configmap:KEY`,
    /// `field:PATH`).
    Env {
        workload: String,
        container: String,
        name: String,
        #[serde(default)]
        value: Option<String>,
        #[serde(default)]
        from: Option<String>,
    },
    /// The container mounts something at `path`: the host's `host_path`, or a volume shared
    /// with the `shared_with` containers at the same path.
    Mount {
        workload: String,
        container: String,
        path: String,
        #[serde(default)]
        host_path: Option<String>,
        #[serde(default)]
        shared_with: Vec<String>,
    },
    /// The container's probe or preStop hook runs exactly this command.
    Exec {
        workload: String,
        container: String,
        hook: String,
        command: Vec<String>,
    },
    /// The container is privileged, or has at least these capabilities.
    Capabilities {
        workload: String,
        container: String,
        add: Vec<String>,
    },
    /// A field of the pod spec (or, with `spec`, of the workload spec) equals `value`.
    Field {
        workload: String,
        path: Vec<String>,
        value: Value,
    },
    /// The workload's service account may do `verbs` on `resource` (in `api_group`), cluster
    /// wide or (with `namespace`) in that namespace.
    Rbac {
        workload: String,
        api_group: String,
        resource: String,
        verbs: Vec<String>,
        #[serde(default)]
        namespace: Option<String>,
    },
    /// The object exists.
    Object { kind: String, name: String },
    /// ovnkube-master's configuration file sets `--ovn-config-namespace` to `namespace`.
    ConfigNamespace {
        workload: String,
        container: String,
        namespace: String,
    },
}

/// One rendering to check, with the values its placeholders stand for.
struct Variant {
    name: &'static str,
    input: RenderInput,
    values: BTreeMap<&'static str, String>,
}

fn variants() -> Vec<Variant> {
    let seed = RenderInput::seed_example();
    let make = |name, edit: &dyn Fn(&mut RenderInput)| {
        let mut input = seed.clone();
        edit(&mut input);
        let config = input
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .config;
        let values = BTreeMap::from([
            ("namespace", config.namespace.clone()),
            ("ovn_north", config.ovn_north()),
            ("ovn_south", config.ovn_south()),
            ("gateway_mode", config.control_plane.gateway_mode.clone()),
            (
                "master_count",
                config.control_plane.master_count.to_string(),
            ),
        ]);
        Variant {
            name,
            input,
            values,
        }
    };
    vec![
        make("seed command", &|_| {}),
        make("--gateway-mode local", &|i| {
            i.upstream.gateway_mode = "local".into()
        }),
        make("IPv6", &|i| {
            i.net_cidr = "fd00:10:128::/48/64".into();
            i.svc_cidr = "fd00:172:30::/112".into();
            i.db_vip = Some("fd00:1::64/64".into());
        }),
        make("--namespace ovn-ha", &|i| i.namespace = "ovn-ha".into()),
        make("--ovn-master-count 3", &|i| {
            i.upstream.ovn_master_count = "3".into()
        }),
        make("--kind", &|i| i.upstream.kind = "true".into()),
    ]
}

fn objects(files: &[RenderedFile]) -> Vec<Value> {
    let mut out = Vec::new();
    for f in files {
        for v in serde_saphyr::from_multiple::<Value>(&f.contents).unwrap() {
            if !v.is_null() {
                out.push(v);
            }
        }
    }
    out
}

struct Rendered {
    objs: Vec<Value>,
}

impl Rendered {
    fn find(&self, kind: &str, name: &str) -> Result<&Value, String> {
        self.objs
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .ok_or_else(|| format!("no {kind} {name}"))
    }

    /// `Deployment/ovnkube-master` → the workload object.
    fn workload(&self, spec: &str) -> Result<&Value, String> {
        let (kind, name) = spec.split_once('/').ok_or("workload is KIND/NAME")?;
        self.find(kind, name)
    }

    fn pod<'a>(&'a self, workload: &str) -> Result<&'a Value, String> {
        Ok(&self.workload(workload)?["spec"]["template"]["spec"])
    }

    fn container<'a>(&'a self, workload: &str, name: &str) -> Result<&'a Value, String> {
        self.pod(workload)?["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == name)
            .ok_or_else(|| format!("{workload} has no container {name}"))
    }

    fn volume<'a>(&'a self, workload: &str, name: &str) -> Result<&'a Value, String> {
        self.pod(workload)?["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == name)
            .ok_or_else(|| format!("{workload} has no volume {name}"))
    }

    /// The volume mounted at `path` in the container.
    fn mount_volume(&self, workload: &str, container: &str, path: &str) -> Result<String, String> {
        let c = self.container(workload, container)?;
        c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some(path))
            .and_then(|m| m["name"].as_str().map(str::to_string))
            .ok_or_else(|| format!("{container} mounts nothing at {path}"))
    }

    /// Every rule of every role bound to the workload's service account, with the namespace
    /// it applies in (`None`: cluster wide).
    fn rules(&self, workload: &str) -> Result<Vec<(Option<String>, Value)>, String> {
        let w = self.workload(workload)?;
        let ns = w["metadata"]["namespace"].as_str().ok_or("no namespace")?;
        let sa = self.pod(workload)?["serviceAccountName"]
            .as_str()
            .ok_or("no service account")?;
        let mut out = Vec::new();
        for b in &self.objs {
            let scope = match b["kind"].as_str() {
                Some("ClusterRoleBinding") => None,
                Some("RoleBinding") => Some(
                    b["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                ),
                _ => continue,
            };
            let bound =
                b["subjects"].as_array().into_iter().flatten().any(|s| {
                    s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == ns
                });
            if !bound {
                continue;
            }
            let role_kind = b["roleRef"]["kind"].as_str().unwrap_or("");
            let role_name = b["roleRef"]["name"].as_str().unwrap_or("");
            let role = self
                .objs
                .iter()
                .find(|o| {
                    o["kind"] == role_kind
                        && o["metadata"]["name"] == role_name
                        && (role_kind == "ClusterRole"
                            || o["metadata"]["namespace"].as_str() == scope.as_deref())
                })
                .ok_or_else(|| format!("binding to a missing {role_kind} {role_name}"))?;
            for r in role["rules"].as_array().into_iter().flatten() {
                out.push((scope.clone(), r.clone()));
            }
        }
        Ok(out)
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn fill(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

fn fill_value(v: &Value, values: &BTreeMap<&str, String>) -> Value {
    match v {
        Value::String(s) => {
            let filled = fill(s, values);
            // A placeholder that stands for a number compares as one.
            filled
                .parse::<u64>()
                .ok()
                .filter(|_| s.starts_with('{'))
                .map_or(Value::String(filled), Value::from)
        }
        other => other.clone(),
    }
}

fn check(r: &Rendered, c: &Check, values: &BTreeMap<&str, String>) -> Result<(), String> {
    let f = |s: &str| fill(s, values);
    match c {
        Check::Container {
            workload,
            container,
            command,
        } => {
            let c = r.container(workload, container)?;
            let mut argv = strings(&c["command"]);
            argv.extend(strings(&c["args"]));
            if argv != *command {
                return Err(format!("{container} runs {argv:?}, not {command:?}"));
            }
        }
        Check::Env {
            workload,
            container,
            name,
            value,
            from,
        } => {
            let c = r.container(workload, container)?;
            let e = c["env"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["name"] == name.as_str())
                .ok_or_else(|| format!("{container} does not set {name}"))?;
            if let Some(want) = value {
                let want = f(want);
                if e["value"].as_str() != Some(want.as_str()) {
                    return Err(format!(
                        "{container}: {name} is {}, not {want:?}",
                        e["value"]
                    ));
                }
            }
            if let Some(from) = from {
                let got = if let Some(k) = e["valueFrom"]["configMapKeyRef"]["key"].as_str() {
                    format!("configmap:{k}")
                } else if let Some(p) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    format!("field:{p}")
                } else {
                    String::new()
                };
                if got != *from {
                    return Err(format!(
                        "{container}: {name} comes from {got:?}, not {from:?}"
                    ));
                }
            }
        }
        Check::Mount {
            workload,
            container,
            path,
            host_path,
            shared_with,
        } => {
            let vol = r.mount_volume(workload, container, path)?;
            if let Some(host) = host_path {
                let got = &r.volume(workload, &vol)?["hostPath"]["path"];
                if got.as_str() != Some(host.as_str()) {
                    return Err(format!("{container}: {path} is host {got}, not {host}"));
                }
            }
            for other in shared_with {
                let theirs = r.mount_volume(workload, other, path)?;
                if theirs != vol {
                    return Err(format!(
                        "{container} and {other} mount different volumes at {path}"
                    ));
                }
            }
        }
        Check::Exec {
            workload,
            container,
            hook,
            command,
        } => {
            let c = r.container(workload, container)?;
            let exec = match hook.as_str() {
                "preStop" => &c["lifecycle"]["preStop"]["exec"]["command"],
                probe => &c[probe]["exec"]["command"],
            };
            if strings(exec) != *command {
                return Err(format!("{container} {hook} runs {exec}, not {command:?}"));
            }
        }
        Check::Capabilities {
            workload,
            container,
            add,
        } => {
            let sc = &r.container(workload, container)?["securityContext"];
            let have = strings(&sc["capabilities"]["add"]);
            let missing: Vec<_> = add.iter().filter(|a| !have.contains(a)).collect();
            if sc["privileged"] != true && !missing.is_empty() {
                return Err(format!(
                    "{container} is not privileged and lacks {missing:?}"
                ));
            }
        }
        Check::Field {
            workload,
            path,
            value,
        } => {
            let mut v = if path.first().map(String::as_str) == Some("spec") {
                r.workload(workload)?
            } else {
                r.pod(workload)?
            };
            for p in path {
                v = &v[p.as_str()];
            }
            let want = fill_value(value, values);
            if *v != want {
                return Err(format!("{workload} {}: {v}, not {want}", path.join(".")));
            }
        }
        Check::Rbac {
            workload,
            api_group,
            resource,
            verbs,
            namespace,
        } => {
            let ns = namespace.as_deref().map(f);
            let rules = r.rules(workload)?;
            for verb in verbs {
                let granted = rules.iter().any(|(scope, rule)| {
                    let scope_ok = scope.is_none() || (ns.is_some() && scope == &ns);
                    scope_ok
                        && strings(&rule["apiGroups"]).contains(api_group)
                        && strings(&rule["resources"]).contains(resource)
                        && strings(&rule["verbs"]).contains(verb)
                });
                if !granted {
                    return Err(format!(
                        "{workload} may not {verb} {resource} ({api_group:?}) in {}",
                        ns.as_deref().unwrap_or("the cluster")
                    ));
                }
            }
        }
        Check::Object { kind, name } => {
            r.find(kind, name)?;
        }
        Check::ConfigNamespace {
            workload,
            container,
            namespace,
        } => {
            let path = "/etc/openvswitch/ovn_k8s.conf";
            let vol = r.mount_volume(workload, container, path)?;
            let v = r.volume(workload, &vol)?;
            let cm_name = v["configMap"]["name"].as_str().ok_or("not a ConfigMap")?;
            let c = r.container(workload, container)?;
            let sub = c["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["mountPath"] == path)
                .and_then(|m| m["subPath"].as_str())
                .ok_or("no subPath")?;
            let text = r.find("ConfigMap", cm_name)?["data"][sub]
                .as_str()
                .ok_or("no file in the ConfigMap")?;
            let want = format!("ovn-config-namespace={}", f(namespace));
            let section_ok = text
                .lines()
                .any(|l| l.trim().eq_ignore_ascii_case("[kubernetes]"));
            if !section_ok || !text.lines().any(|l| l.trim() == want) {
                return Err(format!(
                    "{cm_name} does not set {want} under [Kubernetes]: {text}"
                ));
            }
        }
    }
    Ok(())
}

fn table() -> Vec<Row> {
    serde_saphyr::from_str(TABLE).expect("upstream-conformance.yaml")
}

#[test]
fn every_row_holds_for_every_variant() {
    let rows = table();
    assert!(rows.len() > 40, "the table lost rows");
    let mut failures = Vec::new();
    for v in variants() {
        let config = v.input.validate().unwrap().config;
        let files = render_all(&config, Some(&[7u8; AUTHKEY_LEN]), None).unwrap();
        let r = Rendered {
            objs: objects(&files),
        };
        for row in &rows {
            if let Err(e) = check(&r, &row.check, &v.values) {
                failures.push(format!("[{}] {} ({}): {e}", v.name, row.id, row.source));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rows_are_well_formed() {
    let rows = table();
    let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate row ids");
    for row in &rows {
        let known = row.source.starts_with("dist/images/")
            || row.source.starts_with("dist/templates/")
            || row.source.starts_with("go-controller/");
        assert!(
            known,
            "{}: source {} is not an upstream file",
            row.id, row.source
        );
        assert!(
            !row.requirement.trim().is_empty(),
            "{}: no requirement",
            row.id
        );
    }
}

/// The table in docs/upstream-conformance.md mirrors the data: one line per row, naming its id
/// and upstream file.
#[test]
fn the_doc_mirrors_the_table() {
    let doc_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/upstream-conformance.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    for row in table() {
        let line = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", row.id)))
            .unwrap_or_else(|| panic!("{} has no line in {}", row.id, doc_path.display()));
        assert!(
            line.contains(&row.source),
            "{}: the doc line lacks {}",
            row.id,
            row.source
        );
    }
    assert!(doc.contains(ovn_ha_config::upstream::REVISION));
}

/// A check that must fail does: the table can catch a missing mount, a wrong command and a
/// missing permission.
#[test]
fn checks_can_fail() {
    let config = variants().remove(0).input.validate().unwrap().config;
    let files = render_all(&config, None, None).unwrap();
    let r = Rendered {
        objs: objects(&files),
    };
    let values = BTreeMap::new();
    let bad: Vec<Check> = vec![
        Check::Mount {
            workload: "DaemonSet/ovnkube-node".into(),
            container: "ovn-controller".into(),
            path: "/var/run/ovn-kubernetes".into(),
            host_path: None,
            shared_with: vec![],
        },
        Check::Container {
            workload: "Deployment/ovnkube-master".into(),
            container: "ovnkube-master".into(),
            command: vec!["/root/ovnkube.sh".into(), "ovn-node".into()],
        },
        Check::Rbac {
            workload: "DaemonSet/ovnkube-node".into(),
            api_group: "".into(),
            resource: "secrets".into(),
            verbs: vec!["get".into()],
            namespace: None,
        },
        Check::Capabilities {
            workload: "DaemonSet/ovnkube-node".into(),
            container: "ovn-controller".into(),
            add: vec!["SYS_ADMIN".into()],
        },
    ];
    for c in &bad {
        assert!(check(&r, c, &values).is_err(), "{c:?} passed");
    }
}
