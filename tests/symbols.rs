//! The module exports `fcgid_module` and needs nothing beyond httpd, APR and
//! the C runtime (libc and libgcc_s's unwinder, which catch_unwind needs).

mod common;
use std::process::Command;

#[test]
fn module_exports_fcgid_module_and_no_foreign_undefined_symbols() {
    let so = common::module_path();
    let out = Command::new("nm")
        .args(["-D"])
        .arg(&so)
        .output()
        .expect("nm");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.ends_with(" D fcgid_module") || l.ends_with(" B fcgid_module")),
        "fcgid_module not exported:\n{text}"
    );
    let foreign: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("U ") || l.contains(" U "))
        .map(|l| l.split_whitespace().last().unwrap())
        .filter(|sym| {
            // core_module: httpd's own module record (its core config is
            // read for the directories the manager may start scripts in).
            !(sym.starts_with("ap_")
                || sym.starts_with("apr_")
                || sym.starts_with("apu_")
                || *sym == "core_module")
        })
        .filter(|sym| !(sym.contains("@GLIBC") || sym.contains("@GCC_")))
        .collect();
    assert!(
        foreign.is_empty(),
        "undefined symbols outside httpd, APR and the C runtime: {foreign:?}"
    );
}
