//! `--push REF`: copies the image from the OCI layout to a registry with oci-client (rustls with
//! the ring provider; a small current-thread tokio runtime lives only here). Credentials come
//! from REGISTRY_TOKEN (bearer) or REGISTRY_USERNAME + REGISTRY_PASSWORD (basic, or exchanged
//! for a token when the registry asks for one). Loopback registries are spoken to over plain
//! HTTP, as Docker does for localhost; every other registry over HTTPS.

use super::layer::hex_of;
use super::progress;
use anyhow::{Context, Result, bail};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use std::path::Path;
use std::time::Duration;

/// A checked `--push` target.
#[derive(Debug, Clone)]
pub struct Target {
    pub reference: Reference,
    pub text: String,
}

/// Parses `--push REF`; the registry must be named explicitly and the reference must carry a
/// tag (or none: then `default_tag` is used), not a digest.
pub fn parse(text: &str, default_tag: &str) -> Result<Target> {
    let hint = "expected REGISTRY[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/ovn-daemonset:latest \
                or ghcr.io/OWNER/ovn-daemonset:v1";
    let first = text.split('/').next().unwrap_or_default();
    let names_registry =
        text.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_registry {
        bail!("--push {text:?}: name the registry explicitly; {hint}");
    }
    if text.contains('@') {
        bail!("--push {text:?}: push to a tag, not a digest; {hint}");
    }
    let parsed: Reference = text.parse().map_err(|e| {
        anyhow::anyhow!("--push {text:?} is not a valid image reference ({e}); {hint}")
    })?;
    let has_tag = text
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'));
    let reference = if has_tag {
        parsed
    } else {
        Reference::with_tag(
            parsed.registry().to_owned(),
            parsed.repository().to_owned(),
            default_tag.to_owned(),
        )
    };
    Ok(Target {
        text: reference.whole(),
        reference,
    })
}

fn is_loopback(registry: &str) -> bool {
    let host = registry
        .rsplit_once(':')
        .filter(|(h, port)| !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        .map_or(registry, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn auth_from_env() -> RegistryAuth {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(token) = var("REGISTRY_TOKEN") {
        return RegistryAuth::Bearer(token);
    }
    match (var("REGISTRY_USERNAME"), var("REGISTRY_PASSWORD")) {
        (Some(u), Some(p)) => RegistryAuth::Basic(u, p),
        _ => RegistryAuth::Anonymous,
    }
}

/// Pushes the image tagged `tag` in `layout` to `target`; returns the pushed manifest digest.
pub fn push(layout: &Path, tag: &str, target: &Target) -> Result<String> {
    let manifest_digest = super::layout::manifest_digest(layout, tag)?;
    let blob = |digest: &str| -> Result<Vec<u8>> {
        let p = layout.join("blobs").join("sha256").join(hex_of(digest));
        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let manifest_bytes = blob(&manifest_digest)?;
    let manifest = oci_spec::image::ImageManifest::from_reader(&manifest_bytes[..])
        .context("the layout's manifest does not parse")?;
    let mut blobs = vec![manifest.config().digest().to_string()];
    blobs.extend(manifest.layers().iter().map(|l| l.digest().to_string()));

    let _ = rustls::crypto::ring::default_provider().install_default();
    let registry = target.reference.resolve_registry().to_owned();
    let protocol = if is_loopback(&registry) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    };
    let client = Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(Duration::from_secs(15)),
        read_timeout: Some(Duration::from_secs(300)),
        ..ClientConfig::default()
    });
    let auth = auth_from_env();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the push")?;
    let reference = &target.reference;
    let spin = progress::spinner(&format!("pushing {} to {}", manifest_digest, target.text));
    let result: Result<()> = runtime.block_on(async {
        client
            .auth(reference, &auth, RegistryOperation::Push)
            .await
            .context("authentication failed")?;
        for digest in &blobs {
            if client.blob_exists(reference, digest).await.unwrap_or(false) {
                spin.set_message(format!("{digest}: already in the registry"));
                continue;
            }
            spin.set_message(format!("uploading {digest}"));
            client
                .push_blob(reference, blob(digest)?, digest)
                .await
                .with_context(|| format!("uploading blob {digest}"))?;
        }
        let content_type =
            http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json");
        client
            .push_manifest_raw(reference, manifest_bytes.clone(), content_type)
            .await
            .context("uploading the manifest")?;
        Ok(())
    });
    spin.finish_and_clear();
    result.with_context(|| {
        format!(
            "--push {}: the registry refused or could not be reached; check the address, \
             and if it needs credentials set REGISTRY_USERNAME and REGISTRY_PASSWORD \
             (or REGISTRY_TOKEN)",
            target.text
        )
    })?;
    Ok(manifest_digest)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_references() {
        let t = parse("127.0.0.1:5000/ovn-daemonset", "v1").unwrap();
        assert_eq!(t.text, "127.0.0.1:5000/ovn-daemonset:v1");
        let t = parse("ghcr.io/ovndb-ha/ovn-daemonset:latest", "v1").unwrap();
        assert_eq!(t.reference.tag(), Some("latest"));
        for bad in [
            "ovn-daemonset",
            "ovndb-ha/ovn-daemonset:latest",
            "127.0.0.1:5000/Bad Name",
            "ghcr.io/x/y@sha256:00",
            "",
        ] {
            let e = parse(bad, "v1").unwrap_err().to_string();
            assert!(e.contains("--push"), "{bad}: {e}");
        }
    }

    #[test]
    fn loopback_registries() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("ghcr.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
