//! C mod_fcgid 2.3.9, from Debian's `libapache2-mod-fcgid`, unpacked into
//! target/c-mod_fcgid (never installed). `scripts/setup-debian` fetches it;
//! when it is missing this tries the same download once.

use std::path::{Path, PathBuf};
use std::process::Command;

const SO: &str = "usr/lib/apache2/modules/mod_fcgid.so";

/// $C_FCGID_MODULE, else target/c-mod_fcgid/usr/lib/apache2/modules/mod_fcgid.so.
pub fn path() -> PathBuf {
    if let Ok(p) = std::env::var("C_FCGID_MODULE") {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/c-mod_fcgid");
    let so = dir.join(SO);
    if !so.exists() {
        unpack(&dir);
    }
    assert!(
        so.exists(),
        "C mod_fcgid is missing at {}: run scripts/setup-debian (it downloads \
         libapache2-mod-fcgid with apt-get), or set C_FCGID_MODULE to its .so",
        so.display()
    );
    so
}

fn unpack(dir: &Path) {
    let _ = std::fs::create_dir_all(dir);
    let downloaded = Command::new("apt-get")
        .args(["download", "-qq", "libapache2-mod-fcgid"])
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !downloaded {
        return;
    }
    let Some(deb) = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
    else {
        return;
    };
    let _ = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir)
        .status();
}
