//! Where the checkout this crate was built in keeps its image: the one spelling of the image
//! layout's path, for `cargo xtask image` (which writes it), the benchmarks and the end-to-end
//! tests (which run it).

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate's manifest).
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(Path::parent)
        .unwrap_or(here)
        .to_path_buf()
}

/// The OCI layout `cargo xtask image` builds under `root`.
pub fn image_layout(root: &Path) -> PathBuf {
    root.join("target").join("image").join("ovn-daemonset")
}

/// The Debian suite of the newer image a rolling upgrade goes to (the fault suite's upgrade
/// scenario); `cargo xtask test` builds it with `cargo xtask image --suite`.
pub const UPGRADE_SUITE: &str = "trixie";

/// The OCI layout `cargo xtask image --suite SUITE` builds under `root`, beside the default.
pub fn suite_image_layout(root: &Path, suite: &str) -> PathBuf {
    image_layout(root).with_file_name(format!("ovn-daemonset-{suite}"))
}

/// The image reference the tools run when none is given: this workspace's layout, tag latest.
pub fn default_image() -> String {
    format!("{}:latest", image_layout(&root()).display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_holds_the_workspace_manifest_and_the_image_sits_under_target() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("crates").join("local").is_dir());
        assert_eq!(
            image_layout(Path::new("/w")),
            Path::new("/w/target/image/ovn-daemonset")
        );
        assert!(default_image().ends_with("target/image/ovn-daemonset:latest"));
        assert_eq!(
            suite_image_layout(Path::new("/w"), "trixie"),
            Path::new("/w/target/image/ovn-daemonset-trixie")
        );
    }
}
