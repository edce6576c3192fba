//! The OCF 1.1 meta-data document, generated from the parameter table.

use crate::params::PARAMS;
use std::fmt::Write;

/// Recommended interval of the promoted copy's monitor.
pub const PROMOTED_MONITOR_INTERVAL: &str = "1s";
/// Recommended interval of an unpromoted copy's monitor (must differ from the promoted one).
pub const UNPROMOTED_MONITOR_INTERVAL: &str = "2s";

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The meta-data XML.
pub fn document() -> String {
    let mut x = String::with_capacity(8192);
    x.push_str(concat!(
        "<?xml version=\"1.0\"?>\n",
        "<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n",
        "<resource-agent name=\"ovndb-servers\" version=\"",
        env!("CARGO_PKG_VERSION"),
        "\">\n",
        "  <version>1.1</version>\n",
        "  <longdesc lang=\"en\">\n",
        "Runs OVN's Northbound and Southbound ovsdb-servers as one active/standby pair per host.\n",
        "Every copy starts as a backup replicating from master_ip; promotion makes both databases\n",
        "active. The promotion score follows replication health at every monitor, so the copy\n",
        "that replicated most recently is promoted first. Drop-in replacement for OVN's\n",
        "ovndb-servers shell agent (same parameters).\n",
        "  </longdesc>\n",
        "  <shortdesc lang=\"en\">OVN NB/SB ovsdb-servers, active/standby</shortdesc>\n",
        "  <parameters>\n",
    ));
    for d in PARAMS {
        let _ = writeln!(
            x,
            "    <parameter name=\"{}\" unique=\"0\" required=\"{}\">",
            d.name,
            u8::from(d.required)
        );
        let _ = writeln!(
            x,
            "      <longdesc lang=\"en\">{}</longdesc>",
            escape(d.long)
        );
        let _ = writeln!(
            x,
            "      <shortdesc lang=\"en\">{}</shortdesc>",
            escape(d.short)
        );
        match d.default {
            Some(v) => {
                let _ = writeln!(
                    x,
                    "      <content type=\"string\" default=\"{}\" />",
                    escape(v)
                );
            }
            None => x.push_str("      <content type=\"string\" />\n"),
        }
        x.push_str("    </parameter>\n");
    }
    x.push_str("  </parameters>\n  <actions>\n");
    let promoted =
        format!(" interval=\"{PROMOTED_MONITOR_INTERVAL}\" depth=\"0\" role=\"Promoted\"");
    let unpromoted =
        format!(" interval=\"{UNPROMOTED_MONITOR_INTERVAL}\" depth=\"0\" role=\"Unpromoted\"");
    let actions: [(&str, &str, &str); 9] = [
        ("start", "30s", ""),
        ("stop", "20s", ""),
        ("promote", "50s", ""),
        ("demote", "50s", ""),
        ("notify", "20s", ""),
        ("monitor", "20s", &promoted),
        ("monitor", "20s", &unpromoted),
        ("meta-data", "5s", ""),
        ("validate-all", "20s", ""),
    ];
    for (name, timeout, extra) in actions {
        let _ = writeln!(
            x,
            "    <action name=\"{name}\" timeout=\"{timeout}\"{extra} />"
        );
    }
    x.push_str("  </actions>\n</resource-agent>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_roles_intervals_and_every_parameter() {
        let doc = document();
        assert!(doc.contains("<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">"));
        assert!(doc.contains("<version>1.1</version>"));
        assert!(doc.contains(&format!(
            "interval=\"{PROMOTED_MONITOR_INTERVAL}\" depth=\"0\" role=\"Promoted\""
        )));
        assert!(doc.contains(&format!(
            "interval=\"{UNPROMOTED_MONITOR_INTERVAL}\" depth=\"0\" role=\"Unpromoted\""
        )));
        assert_ne!(PROMOTED_MONITOR_INTERVAL, UNPROMOTED_MONITOR_INTERVAL);
        assert!(!doc.contains("reload-agent"));
        for d in PARAMS {
            assert!(
                doc.contains(&format!("<parameter name=\"{}\"", d.name)),
                "{}",
                d.name
            );
        }
        assert!(doc.contains("<parameter name=\"master_ip\" unique=\"0\" required=\"1\">"));
    }

    #[test]
    fn escapes() {
        assert_eq!(escape("a<b>&\"c"), "a&lt;b&gt;&amp;&quot;c");
    }

    /// Validates against the DTD with xmllint when both are installed.
    #[test]
    fn valid_against_the_dtd() {
        let dtd_dir = std::path::Path::new("/usr/share/resource-agents");
        if !dtd_dir.join("ra-api-1.dtd").exists()
            || std::process::Command::new("xmllint")
                .arg("--version")
                .output()
                .is_err()
        {
            panic!(
                "missing prerequisite: xmllint or /usr/share/resource-agents/ra-api-1.dtd (cargo xtask test installs libxml2-utils and resource-agents)"
            );
        }
        let mut xmllint = std::process::Command::new("xmllint");
        xmllint
            .args(["--noout", "--valid", "-"])
            .current_dir(dtd_dir);
        let checked = ovn_ha_exec::Exec::new(&xmllint).input(document()).output();
        assert!(checked.is_ok(), "{}", checked.unwrap_err());
    }
}
