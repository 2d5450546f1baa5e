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
