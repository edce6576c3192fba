//! Validation problems: each names the flag it is about and says how to fix it.

use std::fmt;

/// A user-settable input, known by its command-line flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Image,
    DbImage,
    K8sApiserver,
    NetCidr,
    SvcCidr,
    DbReplicas,
    DbVip,
    Namespace,
    DbNodeLabel,
    Mtu,
    DbMemoryLimit,
    // Upstream daemonset.sh flags for ovnkube-master and ovnkube-node (see `upstream`).
    ImagePullPolicy,
    GatewayMode,
    GatewayOptions,
    Kind,
    MasterLoglevel,
    NodeLoglevel,
    OvnLoglevelNorthd,
    OvnLoglevelNb,
    OvnLoglevelSb,
    OvnLoglevelController,
    OvnLoglevelNbctld,
    OvnkubeLogfileMaxsize,
    OvnkubeLogfileMaxbackups,
    OvnkubeLogfileMaxage,
    Ssl,
    OvnMasterCount,
    OvnNbPort,
    OvnSbPort,
    OvnNbRaftPort,
    OvnSbRaftPort,
    OvnNbRaftElectionTimer,
    OvnSbRaftElectionTimer,
    HybridEnabled,
}

impl Field {
    /// The command-line flag that sets this field.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Image => "--image",
            Field::DbImage => "--db-vip-image",
            Field::K8sApiserver => "--k8s-apiserver",
            Field::NetCidr => "--net-cidr",
            Field::SvcCidr => "--svc-cidr",
            Field::DbReplicas => "--db-replicas",
            Field::DbVip => "--db-ha-vip",
            Field::Namespace => "--namespace",
            Field::DbNodeLabel => "--db-node-label",
            Field::Mtu => "--mtu",
            Field::DbMemoryLimit => "--db-memory-limit",
            Field::ImagePullPolicy => "--image-pull-policy",
            Field::GatewayMode => "--gateway-mode",
            Field::GatewayOptions => "--gateway-options",
            Field::Kind => "--kind",
            Field::MasterLoglevel => "--master-loglevel",
            Field::NodeLoglevel => "--node-loglevel",
            Field::OvnLoglevelNorthd => "--ovn-loglevel-northd",
            Field::OvnLoglevelNb => "--ovn-loglevel-nb",
            Field::OvnLoglevelSb => "--ovn-loglevel-sb",
            Field::OvnLoglevelController => "--ovn-loglevel-controller",
            Field::OvnLoglevelNbctld => "--ovn-loglevel-nbctld",
            Field::OvnkubeLogfileMaxsize => "--ovnkube-logfile-maxsize",
            Field::OvnkubeLogfileMaxbackups => "--ovnkube-logfile-maxbackups",
            Field::OvnkubeLogfileMaxage => "--ovnkube-logfile-maxage",
            Field::Ssl => "--ssl",
            Field::OvnMasterCount => "--ovn-master-count",
            Field::OvnNbPort => "--ovn-nb-port",
            Field::OvnSbPort => "--ovn-sb-port",
            Field::OvnNbRaftPort => "--ovn-nb-raft-port",
            Field::OvnSbRaftPort => "--ovn-sb-raft-port",
            // Upstream spelled these two with underscores.
            Field::OvnNbRaftElectionTimer => "--ovn_nb_raft_election_timer",
            Field::OvnSbRaftElectionTimer => "--ovn_sb_raft_election_timer",
            Field::HybridEnabled => "--hybrid-enabled",
        }
    }
}

/// One thing wrong (or, as a warning, doubtful) about the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: Field,
    /// What is wrong and how to fix it, in one sentence.
    pub message: String,
}

impl Problem {
    pub fn new(field: Field, message: impl Into<String>) -> Self {
        Problem {
            field,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.flag(), self.message)
    }
}

/// Every problem found in one validation run; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The fields named, in order, without repeats.
    pub fn fields(&self) -> Vec<Field> {
        let mut fields: Vec<Field> = self.0.iter().map(|p| p.field).collect();
        fields.dedup();
        fields
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the input:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}
