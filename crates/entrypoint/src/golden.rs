//! Golden-file comparison for tests: `testdata/<name>` must equal the generated text. Set
//! `OVNKUBE_DB_HA_BLESS=1` to (re)write the files after an intended change, then review the diff.

use std::path::PathBuf;

/// Path of a golden file.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Compares `actual` with the golden file `name` (or writes it when blessing).
#[allow(clippy::unwrap_used)]
pub fn check(name: &str, actual: &str) {
    let path = path(name);
    if std::env::var_os("OVNKUBE_DB_HA_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with OVNKUBE_DB_HA_BLESS=1", path.display()));
    assert!(
        expected == actual,
        "{} differs from the generated text:\n{actual}",
        path.display()
    );
}
