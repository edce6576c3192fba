//! The Secrets of `ovn-setup.yaml` as files, the way a kubelet projects a secret volume: one
//! file per key, with the volume's `defaultMode`.

use crate::pod_template::{PodTemplate, VolumeSource};
pub use ovn_ha_render::secrets::{Secrets, parse};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Parse(#[from] ovn_ha_render::secrets::SecretParseError),
    #[error(
        "the pod mounts Secret {0}, which ovn-setup.yaml does not define; render without --omit-authkey-secret"
    )]
    Missing(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes the files of every Secret the template mounts under `dir/<secret name>/<key>`.
pub fn write(dir: &Path, secrets: &Secrets, template: &PodTemplate) -> Result<(), SecretError> {
    for v in &template.volumes {
        let VolumeSource::Secret {
            secret_name,
            default_mode,
        } = &v.source
        else {
            continue;
        };
        let data = secrets
            .get(secret_name)
            .ok_or_else(|| SecretError::Missing(secret_name.clone()))?;
        let sdir = dir.join(secret_name);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SecretError::Io { path, source }
        };
        std::fs::create_dir_all(&sdir).map_err(io(&sdir))?;
        for (key, bytes) in data {
            let path = sdir.join(key);
            std::fs::write(&path, bytes).map_err(io(&path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*default_mode))
                .map_err(io(&path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_writes_with_the_volume_mode() {
        let config = ovn_ha_config::RenderInput {
            db_vip: Some("198.18.0.100".into()),
            ..Default::default()
        }
        .validate()
        .unwrap()
        .config;
        let key: Vec<u8> = (0..=255).collect();
        let files = ovn_ha_render::render_all(&config, Some(&key), None).unwrap();
        let setup = &files[0].contents;
        let secrets = parse(setup).unwrap();
        assert_eq!(secrets["ovnkube-db-corosync-authkey"]["authkey"], key);
        let template = crate::pod_template::parse(&files[1].contents, "ovnkube-db").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), &secrets, &template).unwrap();
        let path = tmp.path().join("ovnkube-db-corosync-authkey/authkey");
        assert_eq!(std::fs::read(&path).unwrap(), key);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o400
        );
        let without = ovn_ha_render::render_all(&config, None, None).unwrap();
        let err = write(tmp.path(), &parse(&without[0].contents).unwrap(), &template).unwrap_err();
        assert!(err.to_string().contains("--omit-authkey-secret"));
    }
}
