//! Finds the httpd and APR headers through apxs, generates raw bindings with
//! bindgen and compiles the C shim for the APIs that C only offers as macros.
//!
//! Inputs (all optional): `APXS` (default `apxs`), `APR_INCLUDEDIR` and
//! `EXTRA_CPPFLAGS` override what apxs reports.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn apxs_query(apxs: &str, var: &str) -> Option<String> {
    let out = Command::new(apxs).args(["-q", var]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn setting(apxs: &str, var: &str) -> Option<String> {
    env::var(var).ok().or_else(|| apxs_query(apxs, var))
}

fn main() {
    for var in ["APXS", "APR_INCLUDEDIR", "EXTRA_CPPFLAGS"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=apxs/wrapper.h");
    println!("cargo:rerun-if-changed=apxs/shim.c");

    let apxs = env::var("APXS").unwrap_or_else(|_| "apxs".to_string());
    let include_dir = apxs_query(&apxs, "INCLUDEDIR").unwrap_or_else(|| {
        panic!(
            "cannot run `{apxs} -q INCLUDEDIR`: install the httpd development files \
             (Debian: apt-get install apache2-dev) or set APXS to the apxs of your httpd"
        )
    });
    let apr_include_dir = setting(&apxs, "APR_INCLUDEDIR").unwrap_or_else(|| include_dir.clone());
    if !Path::new(&include_dir).join("httpd.h").exists() {
        panic!("{include_dir}/httpd.h is missing: install apache2-dev (Debian) or set APXS");
    }
    if !Path::new(&apr_include_dir).join("apr.h").exists() {
        panic!("{apr_include_dir}/apr.h is missing: install libapr1-dev (Debian) or set APR_INCLUDEDIR");
    }
    let extra: Vec<String> = setting(&apxs, "EXTRA_CPPFLAGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();

    let mut clang_args = vec![format!("-I{include_dir}"), format!("-I{apr_include_dir}")];
    clang_args.extend(extra.iter().cloned());

    let bindings = bindgen::Builder::default()
        .header("apxs/wrapper.h")
        .clang_args(&clang_args)
        .allowlist_function("ap_.*|apr_.*|fcgid_shim_.*")
        .allowlist_type("request_rec|module|command_rec|cmd_parms|server_rec|process_rec|ap_conf_vector_t|apr_table_entry_t|core_server_config|core_dir_config")
        .allowlist_var("ap_unixd_config|ap_server_conf|core_module|MODULE_MAGIC_.*|APR_.*|AP_.*|FCGID_.*|OK|DECLINED|DONE|HTTP_.*|OPT_.*|RSRC_CONF|ACCESS_CONF|OR_.*|M_GET|M_POST|REQUEST_.*|APLOG_.*|NOT_IN_.*|GLOBAL_ONLY|MAX_STRING_LEN")
        .blocklist_function("apr_.*printf.*|ap_.*printf.*|apr_.*vformatter.*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen failed on apxs/wrapper.h");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings");

    let mut build = cc::Build::new();
    build
        .file("apxs/shim.c")
        .include(&include_dir)
        .include(&apr_include_dir);
    for flag in &extra {
        build.flag(flag);
    }
    build.compile("fcgid_shim");

    // httpd's own symbols (ap_*) exist only in the running server. The module is a
    // shared object, where that is normal; the library's unit-test executable links
    // the same code and never calls it, so it must be allowed to leave them open.
    // `make check-symbols` verifies the module needs nothing beyond httpd, APR, libc.
    println!("cargo:rustc-link-arg=-Wl,--unresolved-symbols=ignore-in-object-files");
}
