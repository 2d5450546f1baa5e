//! What an app prints outside FastCGI (a start-up banner on stdout, a
//! warning on stderr before its first accept): C mod_fcgid sends both to
//! httpd's error log, and admins find start-up failures there. Ours must
//! too, side by side with C on the same config.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The parts of the differential suite this test shares (C mod_fcgid).
mod differential {
    pub mod c_module;
}

/// A server with `module` as fcgid_module and `noisy.fcgi`: a shell script
/// that prints a line to stdout and one to stderr, then runs hello.
fn noisy_server(label: &str, module: &Path) -> Httpd {
    let httpd = Httpd::new(label, Mpm::Event, &["hello"], "");
    let root = httpd.root.display().to_string();
    // Debian builds C's defaults under /var/lib/apache2/fcgid.
    httpd.append_conf(&format!(
        "FcgidIPCDir {root}/logs/fcgidsock\nFcgidProcessTableFile {root}/logs/fcgid_shm\n"
    ));
    let script = httpd.www().join("noisy.fcgi");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"noisy-stdout {label}\"\necho \"noisy-stderr {label}\" >&2\nexec {}/hello.fcgi\n",
            httpd.www().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ours = format!(
        "LoadModule fcgid_module {}",
        common::module_path().display()
    );
    let text = std::fs::read_to_string(&httpd.conf).unwrap().replace(
        &ours,
        &format!("LoadModule fcgid_module {}", module.display()),
    );
    std::fs::write(&httpd.conf, text).unwrap();
    httpd.start()
}

#[test]
fn an_apps_stdout_and_stderr_outside_fastcgi_go_to_the_error_log_as_with_c() {
    for (label, module) in [
        ("c", differential::c_module::path()),
        ("ours", common::module_path()),
    ] {
        let httpd = noisy_server(&format!("app-output-{label}"), &module);
        let r = httpd.get("/noisy.fcgi");
        assert_eq!(r.status, 200, "{label}: {}", httpd.error_log());
        for stream in ["stdout", "stderr"] {
            let line = format!("noisy-{stream} app-output-{label}");
            eventually(
                10,
                &format!("{label}: the app's {stream} line logged"),
                || httpd.error_log().contains(&line),
            );
        }
        httpd.stop();
    }
}
