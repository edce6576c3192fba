//! The kinds of object the manifests hold: their API paths and their place in the apply order.
//! A fixed table instead of API discovery keeps the plan pure and the requests predictable.

use kube::core::ApiResource;

/// What we need to know of one kind.
#[derive(Debug, PartialEq, Eq)]
pub struct KindInfo {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    /// Lower ranks are applied first (and deleted last).
    pub rank: u8,
}

macro_rules! kind {
    ($v:literal, $k:literal, $p:literal, $ns:literal, $r:literal) => {
        KindInfo {
            api_version: $v,
            kind: $k,
            plural: $p,
            namespaced: $ns,
            rank: $r,
        }
    };
}

/// Dependency order: namespace, identities, RBAC, configuration, secrets, the Service and its
/// endpoints, then workloads and their disruption budget.
pub const KINDS: &[KindInfo] = &[
    kind!("v1", "Namespace", "namespaces", false, 0),
    kind!("v1", "ServiceAccount", "serviceaccounts", true, 1),
    kind!(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "clusterroles",
        false,
        2
    ),
    kind!(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        3
    ),
    kind!("rbac.authorization.k8s.io/v1", "Role", "roles", true, 4),
    kind!(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
        true,
        5
    ),
    kind!("v1", "ConfigMap", "configmaps", true, 6),
    kind!("v1", "Secret", "secrets", true, 7),
    kind!("v1", "Service", "services", true, 8),
    kind!(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        "endpointslices",
        true,
        9
    ),
    kind!("v1", "Endpoints", "endpoints", true, 10),
    kind!("apps/v1", "Deployment", "deployments", true, 11),
    kind!("apps/v1", "DaemonSet", "daemonsets", true, 11),
    kind!(
        "policy/v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        12
    ),
];

/// Endpoints, read while waiting for the databases.
pub const ENDPOINTS: &KindInfo = &KINDS[10];
/// Deployments, read while waiting for the databases.
pub const DEPLOYMENT: &KindInfo = &KINDS[11];

/// The node kind, which we label but never apply.
pub const NODE: KindInfo = kind!("v1", "Node", "nodes", false, 0);

pub fn lookup(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

impl KindInfo {
    pub fn api_resource(&self) -> ApiResource {
        let (group, version) = match self.api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", self.api_version),
        };
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: self.api_version.into(),
            kind: self.kind.into(),
            plural: self.plural.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_resource() {
        let d = lookup("apps/v1", "Deployment").unwrap();
        let r = d.api_resource();
        assert_eq!(
            (r.group.as_str(), r.version.as_str(), r.plural.as_str()),
            ("apps", "v1", "deployments")
        );
        let ns = lookup("v1", "Namespace").unwrap().api_resource();
        assert_eq!(ns.group, "");
        assert!(lookup("v1", "Pod").is_none());
        assert_eq!(ENDPOINTS.kind, "Endpoints");
        assert_eq!(DEPLOYMENT.kind, "Deployment");
        assert!(lookup("apps/v1beta1", "Deployment").is_none());
    }
}
