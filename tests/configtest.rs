//! `apache2 -t` with our module: the stock-looking config passes, bad values
//! fail with the directive named.

mod common;
use common::{Httpd, Mpm};

#[test]
fn config_with_module_and_addhandler_passes() {
    let httpd = Httpd::new("configtest", Mpm::Event, &[], "<IfModule mod_fcgid.c>\n  FcgidIdleTimeout 60\n  FcgidMaxProcessesPerClass 4\n</IfModule>\n");
    let out = httpd.config_test().expect("configtest passes");
    assert!(out.contains("Syntax OK"), "{out}");
}

#[test]
fn bad_values_and_places_fail_naming_the_directive() {
    let cases = [
        ("FcgidIdleTimeout abc\n", "FcgidIdleTimeout"),
        ("IPCCommTimeout -5\n", "IPCCommTimeout"),
        (
            "<VirtualHost 127.0.0.1:1>\n FcgidMaxProcesses 5\n</VirtualHost>\n",
            "FcgidMaxProcesses",
        ),
        ("FcgidWrapper /no/such/wrapper .php\n", "FcgidWrapper"),
    ];
    for (conf, name) in cases {
        let httpd = Httpd::new("configtest-bad", Mpm::Event, &[], conf);
        let out = httpd.config_test().expect_err(conf);
        assert!(
            out.contains(name),
            "error for {conf:?} should name {name}: {out}"
        );
    }
}

#[test]
fn ifmodule_by_file_name_and_by_symbol_both_match() {
    // Each block sets an impossible value, so configtest fails only if the
    // block was read (i.e. the module answers to that name).
    for block in ["<IfModule mod_fcgid.c>", "<IfModule fcgid_module>"] {
        let conf = format!("{block}\n FcgidIdleTimeout not-a-number\n</IfModule>\n");
        let httpd = Httpd::new("ifmodule", Mpm::Event, &[], &conf);
        assert!(httpd.config_test().is_err(), "{block} was skipped");
    }
}

#[test]
fn an_ipc_dir_that_is_a_symlink_is_refused_and_its_target_untouched() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let httpd = Httpd::new("ipc-link", Mpm::Event, &[], "FcgidIPCDir logs/linked\n");
    let victim = httpd.root.join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&victim, httpd.root.join("logs/linked")).unwrap();
    let _ = std::process::Command::new(common::APACHE)
        .arg("-f")
        .arg(&httpd.conf)
        .args(["-k", "start"])
        .output()
        .unwrap();
    // httpd either fails to start or exits at once; either way the log says why.
    httpd.wait_for_log("the refusal", |l| {
        l.contains("FcgidIPCDir") && l.contains("symbolic link")
    });
    let meta = std::fs::metadata(&victim).unwrap();
    assert_eq!(
        meta.mode() & 0o777,
        0o700,
        "the link's target keeps its mode"
    );
    assert_eq!(meta.uid(), 0, "and its owner");
}
