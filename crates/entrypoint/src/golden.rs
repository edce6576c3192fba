//! Golden files of this crate's unit tests live in `testdata/`; the check itself is the
//! workspace's one ([`ovn_ha_testbed::golden`], `UPDATE_GOLDEN=1` to rewrite).

use std::path::PathBuf;

/// Path of a golden file.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Compares `actual` with the golden file `name` (or writes it when updating).
pub fn check(name: &str, actual: &str) {
    ovn_ha_testbed::golden::check(&path(name), actual);
}
