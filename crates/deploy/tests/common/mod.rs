//! Shared by the integration tests: the four manifests rendered from the seed configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

/// `(file name, contents)` of a real render of the seed configuration.
pub fn seed_files() -> Vec<(String, String)> {
    let config = ovn_ha_config::RenderInput {
        db_vip: Some("10.0.2.100".into()),
        net_cidr: "192.168.0.0/16".into(),
        svc_cidr: "172.16.1.0/24".into(),
        ..Default::default()
    }
    .validate()
    .unwrap()
    .config;
    ovn_ha_render::render_all(&config, Some(&[1u8; 256]), None)
        .unwrap()
        .into_iter()
        .map(|f| (f.name.to_string(), f.contents))
        .collect()
}
