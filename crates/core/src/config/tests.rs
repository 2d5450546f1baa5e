//! Directive lines applied end to end: lookup, then apply.

use std::time::Duration;

use super::test_files::TestDir;
use super::*;

fn server(lines: &[&[&str]]) -> Result<ServerConfig, String> {
    let mut cfg = ServerConfig::default();
    for line in lines {
        let (name, args) = line.split_first().expect("a directive name");
        let d = lookup(name).ok_or_else(|| format!("unknown directive {name}"))?;
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        apply_server(d, name, &args, &mut cfg)?;
    }
    Ok(cfg)
}

fn dir(lines: &[Vec<String>]) -> Result<DirConfig, String> {
    let mut cfg = DirConfig::default();
    for line in lines {
        let (name, args) = line.split_first().expect("a directive name");
        let d = lookup(name).ok_or_else(|| format!("unknown directive {name}"))?;
        apply_dir(d, name, args, &mut cfg)?;
    }
    Ok(cfg)
}

fn line(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn every_server_setting_is_applied() {
    let c = server(&[
        &["FcgidIdleScanInterval", "11"],
        &["FcgidBusyScanInterval", "12"],
        &["FcgidErrorScanInterval", "13"],
        &["FcgidZombieScanInterval", "14"],
        &["FcgidMaxProcesses", "15"],
        &["FcgidSpawnScore", "16"],
        &["FcgidTerminationScore", "17"],
        &["FcgidTimeScore", "18"],
        &["FcgidSpawnScoreUpLimit", "19"],
        &["FcgidIPCDir", "/run/fcgid"],
        &["FcgidProcessTableFile", "/run/fcgid.shm"],
        &["FcgidFixPathinfo", "1"],
        &["FcgidWin32PreventOrphans", "On"],
        &["FcgidIdleTimeout", "20"],
        &["FcgidBusyTimeout", "21"],
        &["FcgidProcessLifeTime", "22"],
        &["FcgidConnectTimeout", "23"],
        &["FcgidIOTimeout", "24"],
        &["FcgidMaxProcessesPerClass", "25"],
        &["FcgidMinProcessesPerClass", "26"],
        &["FcgidMaxRequestsPerProcess", "27"],
        &["FcgidMaxRequestInMem", "28"],
        &["FcgidMaxRequestLen", "10000000000"],
        &["FcgidOutputBufferSize", "30"],
        &["FcgidSlowRequestLog", "1500ms"],
        &["FcgidInitialEnv", "PHPRC", "/etc/php"],
        &["FcgidInitialEnv", "EMPTY"],
        &["FcgidPassHeader", "Authorization"],
    ])
    .unwrap();
    assert_eq!(c.idle_scan_interval(), secs(11));
    assert_eq!(c.busy_scan_interval(), secs(12));
    assert_eq!(c.error_scan_interval(), secs(13));
    assert_eq!(c.zombie_scan_interval(), secs(14));
    assert_eq!(c.max_processes(), 15);
    assert_eq!(c.spawn_score(), 16);
    assert_eq!(c.termination_score(), 17);
    assert_eq!(c.time_score(), 18);
    assert_eq!(c.spawn_score_up_limit(), 19);
    assert_eq!(c.ipc_dir(), "/run/fcgid");
    assert_eq!(c.process_table_file(), "/run/fcgid.shm");
    assert!(c.fix_pathinfo());
    assert_eq!(c.scalars.win32_prevent_orphans, Some(true));
    assert_eq!(c.idle_timeout(), secs(20));
    assert_eq!(c.busy_timeout(), secs(21));
    assert_eq!(c.process_lifetime(), secs(22));
    assert_eq!(c.connect_timeout(), secs(23));
    assert_eq!(c.io_timeout(), secs(24));
    assert_eq!(c.max_processes_per_class(), 25);
    assert_eq!(c.min_processes_per_class(), 26);
    assert_eq!(c.max_requests_per_process(), 27);
    assert_eq!(c.max_request_in_mem(), 28);
    assert_eq!(c.max_request_len(), 10_000_000_000);
    assert_eq!(c.output_buffer_size(), 30);
    assert_eq!(c.slow_request_log(), Duration::from_millis(1500));
    let env = [("PHPRC", "/etc/php"), ("EMPTY", "")].map(|(n, v)| (n.to_string(), v.to_string()));
    assert_eq!(c.initial_env, env);
    assert_eq!(c.pass_headers, ["Authorization"]);
}

#[test]
fn deprecated_names_set_the_same_setting() {
    let c = server(&[
        &["IdleTimeout", "5"],
        &["MaxProcessCount", "6"],
        &["DefaultMaxClassProcessCount", "7"],
        &["IPCCommTimeout", "8"],
        &["IPCConnectTimeout", "9"],
        &["MaxRequestLen", "10"],
        &["DefaultInitEnv", "A", "b"],
        &["SocketPath", "sock"],
        &["SharememPath", "shm"],
        &["PHP_Fix_Pathinfo_Enable", "1"],
        &["maxrequestsperprocess", "-1"],
    ])
    .unwrap();
    assert_eq!(c.idle_timeout(), secs(5));
    assert_eq!(c.max_processes(), 6);
    assert_eq!(c.max_processes_per_class(), 7);
    assert_eq!(c.io_timeout(), secs(8));
    assert_eq!(c.connect_timeout(), secs(9));
    assert_eq!(c.max_request_len(), 10);
    assert_eq!(c.initial_env, [("A".to_string(), "b".to_string())]);
    assert_eq!(c.ipc_dir(), "sock");
    assert_eq!(c.process_table_file(), "shm");
    assert!(c.fix_pathinfo());
    assert_eq!(c.scalars.max_requests_per_process, Some(0));
}

#[test]
fn value_errors_name_the_directive_as_written() {
    let err = server(&[&["FcgidIdleTimeout", "abc"]]).unwrap_err();
    assert_eq!(
        err,
        "FcgidIdleTimeout: 'abc' is not a whole number of seconds"
    );
    let err = server(&[&["idletimeout", "-3"]]).unwrap_err();
    assert!(err.starts_with("idletimeout: '-3' is negative"), "{err}");
    let err = server(&[&["MaxProcessCount", "many"]]).unwrap_err();
    assert_eq!(err, "MaxProcessCount: 'many' is not a whole number");
    let err = server(&[&["FcgidMaxRequestLen", "1k"]]).unwrap_err();
    assert_eq!(
        err,
        "FcgidMaxRequestLen: '1k' is not a whole number of bytes"
    );
    let err = server(&[&["IPCCommTimeout", "0"]]).unwrap_err();
    assert!(err.starts_with("IPCCommTimeout: "), "{err}");
    let err = server(&[&["FcgidWin32PreventOrphans", "maybe"]]).unwrap_err();
    assert_eq!(err, "FcgidWin32PreventOrphans: 'maybe' must be On or Off");
    let err = server(&[&["FcgidMaxRequestInMem", "4294967296"]]).unwrap_err();
    assert!(err.contains("too large"), "{err}");
    let err = server(&[&["FcgidInitialEnv", ""]]).unwrap_err();
    assert_eq!(err, "FcgidInitialEnv: the variable name is empty");
}

#[test]
fn wrong_argument_counts_show_the_expected_form() {
    let err = server(&[&["FcgidIdleTimeout"]]).unwrap_err();
    assert_eq!(
        err,
        "FcgidIdleTimeout: wrong number of arguments (0); expected: FcgidIdleTimeout seconds"
    );
    let err = server(&[&["BusyTimeout", "1", "2"]]).unwrap_err();
    assert!(
        err.starts_with("BusyTimeout: wrong number of arguments (2)"),
        "{err}"
    );
    assert!(err.ends_with("expected: BusyTimeout seconds"), "{err}");
    let err = server(&[&["DefaultInitEnv", "A", "b", "c"]]).unwrap_err();
    assert!(
        err.ends_with("expected: DefaultInitEnv name [value]"),
        "{err}"
    );
    let err = server(&[&["FcgidCmdOptions"]]).unwrap_err();
    assert!(
        err.starts_with("FcgidCmdOptions: wrong number of arguments (0)"),
        "{err}"
    );
    let err = dir(&[line(&["FastCgiAuthorizerAuthoritative", "On", "Off"])]).unwrap_err();
    assert!(
        err.ends_with("expected: FastCgiAuthorizerAuthoritative On|Off"),
        "{err}"
    );
}

#[test]
fn later_lines_override_earlier_ones() {
    let c = server(&[&["FcgidIdleTimeout", "5"], &["IdleTimeout", "6"]]).unwrap();
    assert_eq!(c.idle_timeout(), secs(6));
}

#[test]
fn cmd_options_line_is_stored_per_command() {
    let files = TestDir::new("apply-cmdopts");
    let php = files.file("php-cgi");
    let c = server(&[
        &["FcgidCmdOptions", &php, "MaxProcesses", "2"],
        &["FcgidCmdOptions", &php, "MinProcesses", "1"],
    ])
    .unwrap();
    // The second line replaces the first entirely, as in C.
    let o = c.cmd_options_for(&php).unwrap();
    assert_eq!(o.max_processes, None);
    assert_eq!(o.min_processes, Some(1));
    let err = server(&[&["FcgidCmdOptions", &php, "Bogus", "1"]]).unwrap_err();
    assert!(
        err.starts_with("FcgidCmdOptions: unknown option 'Bogus'"),
        "{err}"
    );
}

#[test]
fn dir_directives_are_applied() {
    let files = TestDir::new("apply-dir");
    let php = files.file("php-cgi");
    let auth = files.file("auth");
    let c = dir(&[
        line(&[
            "FcgidWrapper",
            &format!("{php} -c /etc/php.ini"),
            ".php",
            "virtual",
        ]),
        line(&["FCGIWrapper", &php]),
        line(&["FastCgiAuthenticator", &auth]),
        line(&["FcgidAuthenticatorAuthoritative", "off"]),
        line(&["FcgidAuthorizer", &auth]),
        line(&["FastCgiAuthorizerAuthoritative", "OFF"]),
        line(&["FcgidAccessChecker", &auth]),
        line(&["FcgidAccessCheckerAuthoritative", "On"]),
    ])
    .unwrap();
    let w = c.wrapper_for("/srv/index.php").unwrap();
    assert!(w.is_virtual);
    assert_eq!(w.command.argv(), [php.as_str(), "-c", "/etc/php.ini"]);
    assert!(!c.wrapper_for("/srv/x.cgi").unwrap().is_virtual);
    assert_eq!(c.authenticator.as_ref().unwrap().path, auth);
    assert!(!c.authenticator_authoritative());
    assert_eq!(c.authorizer.as_ref().unwrap().path, auth);
    assert!(!c.authorizer_authoritative());
    assert_eq!(c.access_checker.as_ref().unwrap().path, auth);
    assert!(c.access_checker_authoritative());
}

#[test]
fn missing_programs_fail_naming_the_directive() {
    let err = dir(&[line(&["FastCgiAuthenticator", "/no/such/auth"])]).unwrap_err();
    assert!(
        err.starts_with("FastCgiAuthenticator: cannot access '/no/such/auth'"),
        "{err}"
    );
    let err = dir(&[line(&["FcgidAuthorizer", ""])]).unwrap_err();
    assert_eq!(err, "FcgidAuthorizer: the command is empty");
}

#[test]
fn settings_go_to_the_right_config() {
    let idle = lookup("FcgidIdleTimeout").unwrap();
    let wrapper = lookup("FcgidWrapper").unwrap();
    assert!(!idle.is_dir_setting());
    assert!(wrapper.is_dir_setting());
    let err = apply_dir(
        idle,
        "FcgidIdleTimeout",
        &line(&["1"]),
        &mut DirConfig::default(),
    );
    assert!(err.unwrap_err().contains("internal error"));
    let err = apply_server(
        wrapper,
        "FcgidWrapper",
        &line(&["/x"]),
        &mut ServerConfig::default(),
    );
    assert!(err.unwrap_err().contains("internal error"));
}

#[test]
fn every_directive_is_accepted_by_its_own_config() {
    let files = TestDir::new("apply-all");
    let exe = files.file("app");
    for d in directives() {
        // A valid line for each, by the form of its arguments.
        let args: Vec<String> = match d.syntax {
            "On|Off" => line(&["Off"]),
            "directory" | "file" | "header" => line(&["x"]),
            "name [value]" => line(&["X", "1"]),
            "command option value [option value ...]" => line(&[&exe, "IdleTimeout", "1"]),
            "command" | "command [.suffix] [virtual]" => line(&[&exe]),
            _ => line(&["1"]),
        };
        let result = if d.is_dir_setting() {
            apply_dir(d, d.name(), &args, &mut DirConfig::default())
        } else {
            apply_server(d, d.name(), &args, &mut ServerConfig::default())
        };
        assert_eq!(result, Ok(()), "{}", d.name());
    }
}

#[test]
fn slow_request_log_is_off_by_default_and_a_vhost_may_set_or_switch_it_off() {
    assert_eq!(ServerConfig::default().slow_request_log(), Duration::ZERO);
    let main = server(&[&["FcgidSlowRequestLog", "2"]]).unwrap();
    assert_eq!(main.slow_request_log(), secs(2));
    let off = server(&[&["FcgidSlowRequestLog", "Off"]]).unwrap();
    assert_eq!(
        ServerConfig::merge(&main, &off).slow_request_log(),
        Duration::ZERO,
        "a vhost's Off wins over the main server's threshold"
    );
    let unset = ServerConfig::default();
    assert_eq!(
        ServerConfig::merge(&main, &unset).slow_request_log(),
        secs(2)
    );
    let d = lookup("FcgidSlowRequestLog").unwrap();
    assert_eq!(d.scope, Scope::Server, "server and virtual host");
    let err = server(&[&["FcgidSlowRequestLog", "soon"]]).unwrap_err();
    assert!(err.starts_with("FcgidSlowRequestLog: 'soon'"), "{err}");
}
