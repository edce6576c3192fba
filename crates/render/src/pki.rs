//! The TLS material of `--ssl`: a CA and, signed by it, a key and certificate for each OVN role,
//! under the file names upstream's `ovnkube.sh` reads from `/ovn-cert` (`ca-cert.pem`,
//! `ovnnb-privkey.pem`, `ovnnb-cert.pem`, … `ovncontroller-cert.pem`). Two Secrets carry it:
//! [`DB_SECRET`] (the CA and the NB and SB servers' keys) for the DB pods, and
//! [`CLIENT_SECRET`] (the CA and the ovn-northd and ovn-controller keys, which ovnkube-master
//! and ovnkube-node also use as their client keys) for the others. The CA's private key is
//! never kept: a re-render keeps the Secrets of the `ovn-setup.yaml` already in its output
//! directory, as it keeps the corosync authkey.
//!
//! OVS checks a peer's chain against the CA, not its name, so every certificate is usable by a
//! server and a client (both extended key usages). Certificates are X.509 v3 with ECDSA P-256
//! keys, valid for 10 years from the render's day.

use crate::secrets::Secrets;
use std::collections::BTreeMap;

/// The DB pods' Secret, mounted at `/ovn-cert`.
pub const DB_SECRET: &str = "ovnkube-db-tls";
/// ovnkube-master's and ovnkube-node's Secret, mounted at `/ovn-cert` (upstream's
/// `host-ovn-cert` volume).
pub const CLIENT_SECRET: &str = "ovn-cert";
/// Where upstream's images read the files.
pub const MOUNT_DIR: &str = "/ovn-cert";
/// The CA certificate's file name (in both Secrets).
pub const CA_CERT: &str = "ca-cert.pem";
/// The roles of [`DB_SECRET`].
pub const DB_ROLES: [&str; 2] = ["ovnnb", "ovnsb"];
/// The roles of [`CLIENT_SECRET`].
pub const CLIENT_ROLES: [&str; 2] = ["ovnnorthd", "ovncontroller"];
/// The files an ovnkube-node pod needs of [`CLIENT_SECRET`] (no ovn-northd key on nodes).
pub const NODE_FILES: [&str; 3] = [
    CA_CERT,
    "ovncontroller-privkey.pem",
    "ovncontroller-cert.pem",
];
/// Validity of a generated certificate, from the render's day.
#[cfg(feature = "pki")]
const VALID_YEARS: i16 = 10;

/// File name → PEM text, per Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pki {
    pub db: BTreeMap<String, String>,
    pub client: BTreeMap<String, String>,
}

/// Why the TLS material cannot be made or kept.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[cfg(feature = "pki")]
    #[error("generating the TLS certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[cfg(not(feature = "pki"))]
    #[error(
        "this build of the renderer cannot make TLS certificates (built without its `pki` feature); run dist/images/daemonset.sh with --ssl, which builds it"
    )]
    NoGenerator,
    #[error("Secret {secret} lacks {key}")]
    Missing { secret: &'static str, key: String },
    #[error("Secret {secret}: {key} is not text")]
    NotText { secret: &'static str, key: String },
}

/// The files a Secret of `roles` holds.
fn files(roles: &[&str]) -> Vec<String> {
    std::iter::once(CA_CERT.to_string())
        .chain(
            roles
                .iter()
                .flat_map(|r| [format!("{r}-privkey.pem"), format!("{r}-cert.pem")]),
        )
        .collect()
}

/// A fresh CA and a key and certificate per role, signed by it (needs the `pki` feature).
#[cfg(not(feature = "pki"))]
pub fn generate() -> Result<Pki, PkiError> {
    Err(PkiError::NoGenerator)
}

/// A fresh CA and a key and certificate per role, signed by it.
#[cfg(feature = "pki")]
pub fn generate() -> Result<Pki, PkiError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let day = |years: i16| {
        rcgen::date_time_ymd(
            i32::from(today.year() + years),
            today.month().unsigned_abs(),
            // The 29th of February has no match ten years on: the 28th.
            today.day().unsigned_abs().min(28),
        )
    };
    let (now, until) = (day(0), day(VALID_YEARS));
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "ovndb-ha OVN CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now;
    ca.not_after = until;
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut pki = Pki {
        db: BTreeMap::from([(CA_CERT.to_string(), ca_cert.pem())]),
        client: BTreeMap::from([(CA_CERT.to_string(), ca_cert.pem())]),
    };
    for (roles, out) in [(DB_ROLES, &mut pki.db), (CLIENT_ROLES, &mut pki.client)] {
        for role in roles {
            let key = KeyPair::generate()?;
            let mut leaf = CertificateParams::new(vec![role.to_string()])?;
            leaf.distinguished_name.push(DnType::CommonName, role);
            leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            leaf.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            leaf.not_before = now;
            leaf.not_after = until;
            let cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;
            out.insert(format!("{role}-privkey.pem"), key.serialize_pem());
            out.insert(format!("{role}-cert.pem"), cert.pem());
        }
    }
    Ok(pki)
}

/// The TLS material of an earlier render's Secrets: `None` when neither Secret is there, an
/// error naming the first missing file when one is incomplete.
pub fn from_secrets(secrets: &Secrets) -> Result<Option<Pki>, PkiError> {
    if !secrets.contains_key(DB_SECRET) && !secrets.contains_key(CLIENT_SECRET) {
        return Ok(None);
    }
    let take =
        |secret: &'static str, roles: &[&str]| -> Result<BTreeMap<String, String>, PkiError> {
            let data = secrets.get(secret);
            files(roles)
                .into_iter()
                .map(|key| {
                    let bytes =
                        data.and_then(|d| d.get(&key))
                            .ok_or_else(|| PkiError::Missing {
                                secret,
                                key: key.clone(),
                            })?;
                    let text = String::from_utf8(bytes.clone()).map_err(|_| PkiError::NotText {
                        secret,
                        key: key.clone(),
                    })?;
                    Ok((key, text))
                })
                .collect()
        };
    Ok(Some(Pki {
        db: take(DB_SECRET, &DB_ROLES)?,
        client: take(CLIENT_SECRET, &CLIENT_ROLES)?,
    }))
}

#[cfg(all(test, feature = "pki"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_fresh_pki_has_upstreams_files_and_one_ca() {
        let pki = generate().unwrap();
        assert_eq!(
            pki.db.keys().collect::<Vec<_>>(),
            [
                "ca-cert.pem",
                "ovnnb-cert.pem",
                "ovnnb-privkey.pem",
                "ovnsb-cert.pem",
                "ovnsb-privkey.pem"
            ]
        );
        assert_eq!(
            pki.client.keys().collect::<Vec<_>>(),
            [
                "ca-cert.pem",
                "ovncontroller-cert.pem",
                "ovncontroller-privkey.pem",
                "ovnnorthd-cert.pem",
                "ovnnorthd-privkey.pem"
            ]
        );
        assert_eq!(pki.db[CA_CERT], pki.client[CA_CERT]);
        assert!(pki.db["ovnnb-privkey.pem"].starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(pki.client["ovnnorthd-cert.pem"].starts_with("-----BEGIN CERTIFICATE-----"));
        for f in NODE_FILES {
            assert!(pki.client.contains_key(f), "{f}");
        }
    }

    #[test]
    fn kept_from_secrets_or_named_when_incomplete() {
        let pki = generate().unwrap();
        let to_secret = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                .collect::<BTreeMap<_, _>>()
        };
        let mut secrets = Secrets::new();
        assert!(from_secrets(&secrets).unwrap().is_none());
        secrets.insert(DB_SECRET.into(), to_secret(&pki.db));
        secrets.insert(CLIENT_SECRET.into(), to_secret(&pki.client));
        assert_eq!(from_secrets(&secrets).unwrap(), Some(pki.clone()));
        secrets
            .get_mut(CLIENT_SECRET)
            .unwrap()
            .remove("ovncontroller-cert.pem");
        assert_eq!(
            from_secrets(&secrets).unwrap_err().to_string(),
            "Secret ovn-cert lacks ovncontroller-cert.pem"
        );
    }
}
