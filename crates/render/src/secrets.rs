//! The Secrets a render wrote, read back (pure): a re-render keeps the corosync authkey of the
//! `ovn-setup.yaml` already in its output directory, and the local cluster projects them as a
//! kubelet does (`ovn_ha_local::secrets`).

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// Secret name → key → bytes.
pub type Secrets = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// Why a manifest's Secrets cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretParseError {
    #[error("ovn-setup.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("Secret {name}: key {key} is not base64")]
    Base64 { name: String, key: String },
}

/// Every Secret's decoded data.
pub fn parse(manifest: &str) -> Result<Secrets, SecretParseError> {
    let mut out = Secrets::new();
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(manifest).map_err(|e| SecretParseError::Yaml(e.to_string()))?;
    for v in docs {
        if v["kind"] != "Secret" {
            continue;
        }
        let name = v["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut data = BTreeMap::new();
        for (key, b64) in v["data"].as_object().into_iter().flatten() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_str().unwrap_or_default())
                .map_err(|_| SecretParseError::Base64 {
                    name: name.clone(),
                    key: key.clone(),
                })?;
            data.insert(key.clone(), bytes);
        }
        out.insert(name, data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_secret_and_names_a_bad_key() {
        let m = "kind: ConfigMap\nmetadata: {name: c}\n---\nkind: Secret\nmetadata: {name: s}\ndata: {k: aGk=}\n";
        assert_eq!(parse(m).unwrap()["s"]["k"], b"hi");
        let bad = "kind: Secret\nmetadata: {name: s}\ndata: {k: '!!'}\n";
        assert_eq!(
            parse(bad).unwrap_err().to_string(),
            "Secret s: key k is not base64"
        );
        assert!(matches!(
            parse("a: [").unwrap_err(),
            SecretParseError::Yaml(_)
        ));
    }
}
