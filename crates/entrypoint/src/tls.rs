//! TLS on the proxy's listeners (`OVN_SSL_ENABLE=yes`): the servers listen only on their unix
//! sockets, so the entrypoint's proxy, which owns the VIP's client and replication ports, is
//! where `ssl:VIP:port` sessions end. Like ovsdb-server's `pssl:` remote it requires a client
//! certificate signed by the CA (OVS's clients and replication sessions always present one)
//! and offers its own certificate; OVS does not check host names, so any certificate the CA
//! signed serves. Files are read once, at start: a missing or unreadable file is one error
//! naming it and the fix, before anything starts.
//!
//! The certificates must be X.509 v3 (what `ovs-pki` and the renderer make); webpki, which
//! checks the clients' chains, refuses v1 certificates.

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where upstream's images keep the certificates (`ovnkube.sh`: `/ovn-cert/...`).
pub const CERT_DIR: &str = "/ovn-cert";
/// The CA certificate's file name in [`CERT_DIR`].
pub const CA_CERT: &str = "ca-cert.pem";

/// One database's key, certificate and CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_cert: PathBuf,
}

impl TlsFiles {
    /// The files upstream's layout gives database `db` under `dir`: `ovnnb-privkey.pem`,
    /// `ovnnb-cert.pem` (or `ovnsb-…`) and `ca-cert.pem`.
    pub fn in_dir(dir: &Path, db: ovn_ha_contract::Db) -> Self {
        let stem = format!("ovn{}", db.short());
        TlsFiles {
            private_key: dir.join(format!("{stem}-privkey.pem")),
            certificate: dir.join(format!("{stem}-cert.pem")),
            ca_cert: dir.join(CA_CERT),
        }
    }
}

/// A TLS configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {what}; {fix}", path.display())]
    File {
        path: PathBuf,
        what: String,
        fix: &'static str,
    },
    #[error("TLS with {}: {source}", certificate.display())]
    Config {
        certificate: PathBuf,
        source: rustls::Error,
    },
}

const FIX: &str = "mount the ovn-cert Secret at /ovn-cert (the rendered manifests do), or set \
                   OVN_SSL_ENABLE=no";

fn file_error(path: &Path, what: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        what: what.to_string(),
        fix: FIX,
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, format!("cannot read certificates: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The server side of one database's listeners, from its files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(&files.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.private_key).map_err(|e| {
        file_error(
            &files.private_key,
            format!("no usable PEM private key: {e}"),
        )
    })?;
    let mut roots = RootCertStore::empty();
    for ca in certificates(&files.ca_cert)? {
        roots
            .add(ca)
            .map_err(|e| file_error(&files.ca_cert, format!("not a usable CA: {e}")))?;
    }
    let config_error = |source| TlsError::Config {
        certificate: files.certificate.clone(),
        source,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| config_error(rustls::Error::General(e.to_string())))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(config_error)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_files_are_upstreams() {
        let nb = TlsFiles::in_dir(Path::new(CERT_DIR), ovn_ha_contract::Db::Nb);
        assert_eq!(nb.private_key, Path::new("/ovn-cert/ovnnb-privkey.pem"));
        assert_eq!(nb.certificate, Path::new("/ovn-cert/ovnnb-cert.pem"));
        assert_eq!(nb.ca_cert, Path::new("/ovn-cert/ca-cert.pem"));
        let sb = TlsFiles::in_dir(Path::new(CERT_DIR), ovn_ha_contract::Db::Sb);
        assert_eq!(sb.certificate, Path::new("/ovn-cert/ovnsb-cert.pem"));
    }

    #[test]
    fn a_missing_file_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let e = server_config(&TlsFiles::in_dir(dir.path(), ovn_ha_contract::Db::Nb))
            .unwrap_err()
            .to_string();
        assert!(e.contains("ovnnb-cert.pem"), "{e}");
        assert!(e.contains("OVN_SSL_ENABLE=no"), "{e}");
    }

    #[test]
    fn a_file_without_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::in_dir(dir.path(), ovn_ha_contract::Db::Sb);
        std::fs::write(&files.certificate, "not a certificate\n").unwrap();
        let e = server_config(&files).unwrap_err().to_string();
        assert!(
            e.contains("ovnsb-cert.pem: holds no PEM certificate"),
            "{e}"
        );
    }
}
