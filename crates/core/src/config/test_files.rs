//! Scratch files for tests of directives that check files exist.

use std::path::PathBuf;

/// A directory under the system temp dir, removed when dropped.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let dir =
            std::env::temp_dir().join(format!("mod_fcgid-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create test dir");
        TestDir(dir)
    }

    /// Creates an empty file in the directory and returns its path.
    pub fn file(&self, name: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, b"").expect("create test file");
        path.to_str().expect("utf-8 temp path").to_string()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
