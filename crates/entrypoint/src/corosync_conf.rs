//! Rendering `corosync.conf` from the validated configuration. Pure text generation, one
//! directive per line (corosync's parser rejects `a { b: c }` on one line).
//!
//! Timings: corosync 3 adds `token_coefficient` (650 ms) per node beyond two to `token` and
//! derives `consensus` as 1.2 × that, so the default `token: 1000` on three nodes means 3.6 s
//! before a lost node leaves the membership. We set `token_coefficient: 0` and an explicit
//! consensus, so detection takes `token + consensus` (default 600 + 720 = 1.32 s). Measured on
//! a 2-core host, 500/600 ms worked but warned of late tokens; 600/720 keeps a 25 % margin over
//! that while leaving ~1.2 s of a 2.5 s node-loss budget for Pacemaker's transition (its
//! controller alone pauses ~1 s after a membership change, see the failover notes). Both are
//! tunable through `OVN_DB_HA_TOKEN_MS` / `OVN_DB_HA_CONSENSUS_MS`, and
//! `OVN_DB_HA_TOKEN_COEFFICIENT_MS` restores corosync's per-node coefficient (the benchmark's
//! `shell` stack uses corosync's defaults: token 3000 ms, coefficient 650 ms, consensus derived).
//!
//! Quorum: `quorum.expected_votes` is written explicitly as [`expected_votes`] — at least the
//! Deployment's replica count and at least the number of listed nodes — so that a node list that
//! is still partial (pods not yet scheduled or discovered) never lets a minority be quorate.

use crate::env_config::Timings;
use crate::peers::Member;
use std::fmt::Write;

/// Name of the cluster in `totem.cluster_name`.
pub const CLUSTER_NAME: &str = "ovnkube-db";
/// Where corosync reads its configuration.
pub const COROSYNC_CONF_PATH: &str = "/etc/corosync/corosync.conf";
/// Where the authkey is copied for corosync.
pub const AUTHKEY_PATH: &str = "/etc/corosync/authkey";

/// Inputs of the rendering.
#[derive(Debug, Clone)]
pub struct CorosyncConf<'a> {
    pub members: &'a [Member],
    pub timings: Timings,
    pub keyfile: &'a str,
    /// `quorum.expected_votes`, see [`expected_votes`].
    pub expected_votes: u32,
}

/// The votes corosync must expect: the larger of the replica count (when known) and the
/// number of listed members. Never below the member count, or two halves of a larger
/// membership could both be quorate; never below the replica count, or a node that knows only
/// part of the Deployment's pods could be quorate with fewer than a majority of them.
pub fn expected_votes(replicas: Option<u32>, members: usize) -> u32 {
    let listed = u32::try_from(members).unwrap_or(u32::MAX);
    replicas.unwrap_or(0).max(listed).max(1)
}

impl CorosyncConf<'_> {
    /// The file's text.
    pub fn render(&self) -> String {
        let t = self.timings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Written by ovnkube-db-ha at start and when the members change; do not edit."
        );
        let _ = writeln!(out, "totem {{");
        let _ = writeln!(out, "    version: 2");
        let _ = writeln!(out, "    cluster_name: {CLUSTER_NAME}");
        let _ = writeln!(out, "    transport: knet");
        let _ = writeln!(
            out,
            "    # Only holders of the authkey can join or read the traffic."
        );
        let _ = writeln!(out, "    crypto_cipher: aes256");
        let _ = writeln!(out, "    crypto_hash: sha256");
        let _ = writeln!(out, "    keyfile: {}", self.keyfile);
        let _ = writeln!(
            out,
            "    # Node loss is detected after token + consensus ms."
        );
        let _ = writeln!(out, "    token: {}", t.token_ms);
        let _ = writeln!(out, "    token_coefficient: {}", t.token_coefficient_ms);
        let _ = writeln!(
            out,
            "    consensus: {}",
            t.consensus_for(self.members.len())
        );
        let _ = writeln!(out, "    interface {{");
        let _ = writeln!(out, "        linknumber: 0");
        let _ = writeln!(out, "        knet_transport: udp");
        let _ = writeln!(out, "    }}");
        let _ = writeln!(out, "}}");
        let _ = writeln!(out, "nodelist {{");
        for m in self.members {
            let _ = writeln!(out, "    node {{");
            let _ = writeln!(out, "        name: {}", m.name);
            let _ = writeln!(out, "        nodeid: {}", m.nodeid);
            let _ = writeln!(out, "        ring0_addr: {}", m.addr);
            let _ = writeln!(out, "    }}");
        }
        let _ = writeln!(out, "}}");
        let _ = writeln!(out, "quorum {{");
        let _ = writeln!(out, "    provider: corosync_votequorum");
        let _ = writeln!(
            out,
            "    # At least the replica count: a partial node list is never quorate alone."
        );
        let _ = writeln!(out, "    expected_votes: {}", self.expected_votes);
        let _ = writeln!(out, "}}");
        let _ = writeln!(out, "logging {{");
        let _ = writeln!(out, "    to_stderr: yes");
        let _ = writeln!(out, "    to_logfile: no");
        let _ = writeln!(out, "    to_syslog: no");
        let _ = writeln!(out, "    timestamp: on");
        let _ = writeln!(out, "    fileline: off");
        let _ = writeln!(out, "    debug: off");
        let _ = writeln!(out, "}}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{members, parse_static_peers};

    #[test]
    fn matches_golden_file() {
        let peers =
            parse_static_peers("t4cl-h1=198.18.5.11,t4cl-h2=198.18.5.12,t4cl-h3=198.18.5.13")
                .unwrap();
        let members = members(&peers).unwrap();
        let text = CorosyncConf {
            members: &members,
            timings: Timings {
                token_ms: 600,
                token_coefficient_ms: 0,
                consensus_ms: None,
            },
            keyfile: AUTHKEY_PATH,
            expected_votes: 3,
        }
        .render();
        crate::golden::check("corosync.conf", &text);
    }

    #[test]
    fn one_directive_per_line_and_balanced_braces() {
        let peers = parse_static_peers("a=10.0.0.1").unwrap();
        let members = members(&peers).unwrap();
        let text = CorosyncConf {
            members: &members,
            timings: Timings {
                token_ms: 1000,
                token_coefficient_ms: 0,
                consensus_ms: Some(1200),
            },
            keyfile: "/k",
            expected_votes: 3,
        }
        .render();
        let mut depth = 0i32;
        for line in text.lines() {
            let l = line.trim();
            assert!(
                l.matches(['{', '}', ':']).count() <= 1 || l.starts_with('#'),
                "{l}"
            );
            if l.ends_with('{') {
                depth += 1;
            }
            if l == "}" {
                depth -= 1;
            }
            assert!(depth >= 0);
        }
        assert_eq!(depth, 0);
        assert!(text.contains("token: 1000\n") && text.contains("consensus: 1200\n"));
        assert!(text.contains("    expected_votes: 3\n"));
    }

    #[test]
    fn corosync_defaults_derive_consensus_from_the_effective_token() {
        let peers = parse_static_peers("a=10.0.0.1,b=10.0.0.2,c=10.0.0.3").unwrap();
        let members = members(&peers).unwrap();
        let timings = Timings {
            token_ms: 3000,
            token_coefficient_ms: 650,
            consensus_ms: None,
        };
        assert_eq!(timings.effective_token_ms(3), 3650);
        assert_eq!(timings.effective_token_ms(1), 3000);
        let text = CorosyncConf {
            members: &members,
            timings,
            keyfile: "/k",
            expected_votes: 3,
        }
        .render();
        assert!(text.contains("    token: 3000\n"), "{text}");
        assert!(text.contains("    token_coefficient: 650\n"), "{text}");
        assert!(text.contains("    consensus: 4380\n"), "{text}");
    }

    #[test]
    fn expected_votes_cover_replicas_and_members() {
        // (replicas, listed members, expected votes)
        let cases = [
            (Some(3), 1, 3),
            (Some(3), 3, 3),
            (Some(3), 4, 4),
            (Some(5), 3, 5),
            (None, 3, 3),
            (None, 0, 1),
        ];
        for (replicas, listed, want) in cases {
            assert_eq!(
                expected_votes(replicas, listed),
                want,
                "{replicas:?} {listed}"
            );
        }
    }
}
