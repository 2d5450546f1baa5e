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

/// `apache2 -k start`, which may fail or leave a parent that exits at once.
fn try_start(httpd: &Httpd) -> String {
    let out = std::process::Command::new(common::APACHE)
        .arg("-f")
        .arg(&httpd.conf)
        .args(["-k", "start"])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_ipc_dir_and_its_sockets_are_the_users_alone() {
    use std::os::unix::fs::MetadataExt;
    let httpd = Httpd::new("ipc-modes", Mpm::Event, &["hello"], "").start();
    assert_eq!(httpd.get("/hello.fcgi").status, 200);
    let www_data = std::fs::metadata(httpd.root.join("logs/fcgidsock"))
        .map(|m| (m.uid(), m.mode() & 0o7777))
        .unwrap();
    let user = std::process::Command::new("id")
        .args(["-u", "www-data"])
        .output()
        .unwrap();
    let uid: u32 = String::from_utf8_lossy(&user.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(www_data, (uid, 0o700), "the directory: owner and mode");
    let sockets: Vec<_> = std::fs::read_dir(httpd.root.join("logs/fcgidsock"))
        .unwrap()
        .flatten()
        .collect();
    assert!(sockets.len() >= 2, "the manager's and an app's");
    for s in sockets {
        let m = s.metadata().unwrap();
        assert_eq!(m.mode() & 0o777, 0o600, "{}", s.path().display());
        assert_eq!(m.uid(), uid, "{}", s.path().display());
    }
}

#[test]
fn an_existing_ipc_dir_open_to_others_or_not_the_users_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    for (mode, chown, says) in [
        (0o755, true, "chmod 700"),
        (0o700, false, "not by the httpd User"),
    ] {
        let httpd = Httpd::new("ipc-existing", Mpm::Event, &[], "");
        let dir = httpd.root.join("logs/fcgidsock");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        if chown {
            let ok = std::process::Command::new("chown")
                .arg("www-data")
                .arg(&dir)
                .status()
                .unwrap()
                .success();
            assert!(ok);
        }
        let out = try_start(&httpd);
        httpd.wait_for_log("the refusal", |l| {
            l.contains("FcgidIPCDir") && l.contains(says)
        });
        common::eventually(10, "httpd gone", || {
            common::processes_matching(&httpd.conf.to_string_lossy()).is_empty()
        });
        assert!(!httpd.error_log().contains("process manager"), "{out}");
    }
}

#[test]
fn an_ipc_dir_too_long_for_a_socket_path_fails_the_start_naming_the_directive() {
    let long = format!("logs/{}", "d".repeat(100));
    let httpd = Httpd::new(
        "ipc-long",
        Mpm::Event,
        &[],
        &format!("FcgidIPCDir {long}\n"),
    );
    let out = try_start(&httpd);
    httpd.wait_for_log("the refusal", |l| {
        l.contains("FcgidIPCDir") && l.contains("too long")
    });
    common::eventually(10, "httpd gone", || {
        common::processes_matching(&httpd.conf.to_string_lossy()).is_empty()
    });
    assert!(
        !httpd.error_log().contains("process manager"),
        "no manager was started: {out}\n{}",
        httpd.error_log()
    );
}
