//! Syntax checks for Kubernetes names, label selectors and container image references.

/// A DNS-1123 label (namespace names): lowercase alphanumerics and `-`, at most 63 characters,
/// starting and ending alphanumeric.
pub fn check_dns_label(text: &str) -> Result<(), String> {
    let ok_chars = text
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let ends_ok = text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric());
    if text.is_empty() || text.len() > 63 || !ok_chars || !ends_ok {
        return Err(format!(
            "`{text}` is not a DNS-1123 label; use 1-63 lowercase letters, digits and '-', starting and ending alphanumeric"
        ));
    }
    Ok(())
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
fn is_dns_subdomain(text: &str) -> bool {
    !text.is_empty() && text.len() <= 253 && text.split('.').all(|l| check_dns_label(l).is_ok())
}

/// A label name segment or value: at most 63 characters of alphanumerics, `-`, `_`, `.`,
/// starting and ending alphanumeric. Values may be empty.
fn is_label_segment(text: &str, allow_empty: bool) -> bool {
    if text.is_empty() {
        return allow_empty;
    }
    text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A node label as `KEY=VALUE`, e.g. `openvswitch.org/ovnkube-db=true`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeLabel {
    pub key: String,
    pub value: String,
}

pub fn parse_node_label(text: &str) -> Result<NodeLabel, String> {
    let fix = "write it as KEY=VALUE, e.g. openvswitch.org/ovnkube-db=true";
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` has no `=`; {fix}"))?;
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let key_ok = prefix.is_none_or(is_dns_subdomain) && is_label_segment(name, false);
    if !key_ok {
        return Err(format!("`{key}` is not a valid label key; {fix}"));
    }
    if !is_label_segment(value, true) {
        return Err(format!(
            "`{value}` is not a valid label value (at most 63 of A-Z a-z 0-9 - _ .); {fix}"
        ));
    }
    Ok(NodeLabel {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// A container image reference `[REGISTRY/]REPOSITORY[:TAG][@DIGEST]`.
pub fn check_image(text: &str) -> Result<(), String> {
    let fix = "give a reference such as docker.io/ovnkube/ovn-daemonset-u:latest";
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{text}` is empty or contains whitespace; {fix}"));
    }
    let (name_tag, digest) = match text.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (text, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(format!(
                "`{text}`: digest `{d}` is not ALGORITHM:HEX; {fix}"
            ));
        }
    }
    // A ':' after the last '/' starts the tag; one before it is a registry port.
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name_tag[last_slash..].split_once(':') {
        Some((_, t)) => (&name_tag[..name_tag.len() - t.len() - 1], Some(t)),
        None => (name_tag, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !t.starts_with(['.', '-']);
        if !ok {
            return Err(format!("`{text}`: tag `{t}` is not valid; {fix}"));
        }
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    // The first component is a registry host when it has a '.', a ':' or is localhost.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        parts.remove(0);
    }
    let path_ok = parts.iter().all(|p| {
        !p.is_empty()
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && p.starts_with(|c: char| c.is_ascii_alphanumeric())
    });
    if !path_ok {
        return Err(format!(
            "`{text}`: the repository path must be lowercase letters, digits, '.', '_' and '-'; {fix}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        for ok in [
            "docker.io/ovnkube/ovn-daemonset-u:latest",
            "ovn-daemonset",
            "localhost:5000/ovn/ovn-daemonset:v1.2.3",
            "ghcr.io/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example.com/x/y:1.0@sha256:0123456789abcdef0123456789abcdef",
        ] {
            check_image(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("docker.io/OVN/x:1", "lowercase"),
            ("a b", "whitespace"),
            ("x:", "tag"),
            ("x:-bad", "tag"),
            ("x@sha256:zz", "digest"),
            ("/x", "repository path"),
        ];
        for (input, want) in bad {
            let err = check_image(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn labels() {
        let l = parse_node_label("openvswitch.org/ovnkube-db=true").unwrap();
        assert_eq!(
            (l.key.as_str(), l.value.as_str()),
            ("openvswitch.org/ovnkube-db", "true")
        );
        assert!(parse_node_label("role=").is_ok());
        for (input, want) in [
            ("no-equals", "no `=`"),
            ("bad key=true", "label key"),
            ("Bad_Prefix/x=1", "label key"),
            ("a=b c", "label value"),
        ] {
            let err = parse_node_label(input).expect_err(input);
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn dns_labels() {
        assert!(check_dns_label("ovn-kubernetes").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(check_dns_label(bad).is_err(), "{bad}");
        }
    }
}
