//! The workspace's one golden-file check for tests: a generated text must equal the committed
//! file. `UPDATE_GOLDEN=1` (re)writes the files after an intended change instead; review the
//! diff before committing it.

use std::path::Path;

/// The variable that rewrites golden files instead of comparing.
pub const UPDATE: &str = "UPDATE_GOLDEN";

/// Asserts that `actual` equals the file at `path`, or writes it when [`UPDATE`] is set.
///
/// # Panics
/// When the texts differ, the file is missing, or it cannot be written; the message names the
/// file and the variable.
pub fn check(path: &Path, actual: &str) {
    if std::env::var_os(UPDATE).is_some() {
        if let Err(e) = std::fs::write(path, actual) {
            panic!("writing {}: {e}", path.display());
        }
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with {UPDATE}=1 to write it", path.display()));
    assert!(
        expected == actual,
        "{} differs from the generated text; rerun with {UPDATE}=1 if the change is intended:\n{actual}",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_passes_and_a_difference_names_the_file_and_the_variable() {
        let dir = std::env::temp_dir().join(format!("golden-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("g.txt");
        std::fs::write(&file, "a\n").unwrap();
        check(&file, "a\n");
        let e = std::panic::catch_unwind(|| check(&file, "b\n")).unwrap_err();
        let text = e.downcast_ref::<String>().cloned().unwrap_or_default();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            text.contains("g.txt differs") && text.contains(UPDATE),
            "{text}"
        );
    }
}
