//! Telling the OCF agent whether this node is Pacemaker's DC (pure parts).
//!
//! Why: when the node that holds the promoted copy is also the DC and is lost, the survivors
//! first elect a new DC, whose first scheduler run comes through a join that makes Pacemaker
//! re-read the CIB a second later; losing any other node's active costs no election. So the
//! entrypoint keeps the file [`AGENT_DC_MARKER`] while its node is the DC, and the agent's
//! unpromoted copy there scores [`AGENT_DC_DEFERENCE`] less, which sends equally healthy
//! promotions to a node that is not the DC. The promoted copy itself never defers, so a DC
//! moving onto it moves nothing.

/// The marker file: `is-dc` in the agent's default `state_dir` (`/run/ovndb-servers`).
pub const AGENT_DC_MARKER: &str = "/run/ovndb-servers/is-dc";
/// How much lower the agent scores an unpromoted copy on the DC's node than its health says.
pub const AGENT_DC_DEFERENCE: i64 = 1;

/// The DC's node name from `crmadmin --dc_lookup --quiet` (one line; empty when there is none).
pub fn parse_dc_lookup(stdout: &str) -> Option<&str> {
    stdout.lines().map(str::trim).find(|l| !l.is_empty())
}

/// What to do with the marker, given what the DC lookup said and whether the marker exists.
/// An unanswered lookup (`None`, e.g. during an election) changes nothing.
pub fn marker_change(lookup: Option<Option<&str>>, me: &str, exists: bool) -> Option<bool> {
    let want = match lookup? {
        Some(dc) => dc == me,
        None => false,
    };
    (want != exists).then_some(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_output() {
        for (text, want) in [
            ("h1\n", Some("h1")),
            ("  h2  \n", Some("h2")),
            ("\n\nh3\n", Some("h3")),
            ("", None),
            ("\n", None),
        ] {
            assert_eq!(parse_dc_lookup(text), want, "{text:?}");
        }
    }

    #[test]
    fn marker_follows_the_dc() {
        // (lookup, marker exists) -> change
        type Case<'a> = (Option<Option<&'a str>>, bool, Option<bool>);
        let cases: &[Case] = &[
            (Some(Some("me")), false, Some(true)),
            (Some(Some("me")), true, None),
            (Some(Some("other")), true, Some(false)),
            (Some(Some("other")), false, None),
            (Some(None), true, Some(false)),
            (None, true, None),
            (None, false, None),
        ];
        for &(lookup, exists, want) in cases {
            assert_eq!(
                marker_change(lookup, "me", exists),
                want,
                "{lookup:?} {exists}"
            );
        }
    }
}
