//! A fresh, empty folder per test for the files a test writes (certificates,
//! token files, configs), named by suite, test and process so parallel runs
//! and leftovers of a killed run never meet. Owns making it; a test removes
//! it when it is done.

use std::path::PathBuf;

/// `$TMPDIR/vigil-{suite}-{test}-{pid}`, emptied and created.
pub fn dir(suite: &str, test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-{suite}-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("creating the scratch folder {}: {e}", dir.display()));
    dir
}
