//! Applying one directive line to a config.

use super::cmd_options::CmdOptions;
use super::command::Command;
use super::dir::{DirConfig, Wrapper};
use super::directives::{Directive, Setting};
use super::server::ServerConfig;
use super::values::{self, INT_MAX, OFF_MAX};

/// Applies a server-context directive. `args` are the words after the
/// name, already split by httpd (quotes removed); `written_name` is the
/// name as it appears in the config, used in error messages.
pub fn apply_server(
    d: &Directive,
    written_name: &str,
    args: &[String],
    cfg: &mut ServerConfig,
) -> Result<(), String> {
    check_arity(d, written_name, args)?;
    let n = written_name;
    let arg = args[0].as_str();
    match d.setting {
        Setting::IdleScanInterval => cfg.idle_scan_interval = Some(values::seconds(n, arg)?),
        Setting::BusyScanInterval => cfg.busy_scan_interval = Some(values::seconds(n, arg)?),
        Setting::ErrorScanInterval => cfg.error_scan_interval = Some(values::seconds(n, arg)?),
        Setting::ZombieScanInterval => cfg.zombie_scan_interval = Some(values::seconds(n, arg)?),
        Setting::MaxProcesses => cfg.max_processes = Some(values::count(n, arg)?),
        Setting::SpawnScore => cfg.spawn_score = Some(values::count(n, arg)?),
        Setting::TerminationScore => cfg.termination_score = Some(values::count(n, arg)?),
        Setting::TimeScore => cfg.time_score = Some(values::count(n, arg)?),
        Setting::SpawnScoreUpLimit => cfg.spawn_score_up_limit = Some(values::count(n, arg)?),
        Setting::IpcDir => cfg.ipc_dir = Some(non_empty(n, arg, "path")?),
        Setting::ProcessTableFile => cfg.process_table_file = Some(non_empty(n, arg, "path")?),
        Setting::FixPathinfo => cfg.fix_pathinfo = Some(values::number_or_flag(n, arg)?),
        Setting::Win32PreventOrphans => {
            cfg.win32_prevent_orphans = Some(values::flag(n, arg)?);
        }
        Setting::IdleTimeout => cfg.idle_timeout = Some(values::seconds(n, arg)?),
        Setting::ProcessWaitTimeout => cfg.wait_timeout = Some(values::seconds(n, arg)?),
        Setting::BusyTimeout => cfg.busy_timeout = Some(values::seconds(n, arg)?),
        Setting::ProcessLifetime => cfg.process_lifetime = Some(values::seconds(n, arg)?),
        Setting::ConnectTimeout => cfg.connect_timeout = Some(values::seconds(n, arg)?),
        Setting::IoTimeout => cfg.io_timeout = Some(values::positive_seconds(n, arg)?),
        Setting::MaxProcessesPerClass => {
            cfg.max_processes_per_class = Some(values::count(n, arg)?);
        }
        Setting::MinProcessesPerClass => {
            cfg.min_processes_per_class = Some(values::count(n, arg)?);
        }
        Setting::MaxRequestsPerProcess => {
            cfg.max_requests_per_process = Some(values::request_limit(n, arg)?);
        }
        Setting::MaxRequestInMem => {
            cfg.max_request_in_mem = Some(values::bytes(n, arg, INT_MAX)?);
        }
        Setting::MaxRequestLen => cfg.max_request_len = Some(values::bytes(n, arg, OFF_MAX)?),
        Setting::OutputBufferSize => {
            // INT_MAX fits in usize on every platform httpd runs on.
            cfg.output_buffer_size = Some(values::bytes(n, arg, INT_MAX)? as usize);
        }
        Setting::InitialEnv => {
            let name = non_empty(n, arg, "variable name")?;
            let value = args.get(1).map_or("", String::as_str);
            cfg.set_initial_env(&name, value);
        }
        Setting::PassHeader => cfg.pass_headers.push(non_empty(n, arg, "header name")?),
        Setting::CmdOptions => cfg.set_cmd_options(CmdOptions::parse(n, args)?),
        Setting::Wrapper
        | Setting::Authenticator
        | Setting::AuthenticatorAuthoritative
        | Setting::Authorizer
        | Setting::AuthorizerAuthoritative
        | Setting::AccessChecker
        | Setting::AccessCheckerAuthoritative => return Err(wrong_config(n, "directory")),
    }
    Ok(())
}

/// Applies a directory-context directive (including `FcgidWrapper` at
/// server level, which httpd stores in the server's directory config).
pub fn apply_dir(
    d: &Directive,
    written_name: &str,
    args: &[String],
    cfg: &mut DirConfig,
) -> Result<(), String> {
    check_arity(d, written_name, args)?;
    let n = written_name;
    let arg = args[0].as_str();
    match d.setting {
        Setting::Wrapper => cfg.set_wrapper(Wrapper::parse(n, args)?),
        Setting::Authenticator => cfg.authenticator = Some(Command::parse(n, arg)?),
        Setting::AuthenticatorAuthoritative => {
            cfg.authenticator_authoritative = Some(values::flag(n, arg)?);
        }
        Setting::Authorizer => cfg.authorizer = Some(Command::parse(n, arg)?),
        Setting::AuthorizerAuthoritative => {
            cfg.authorizer_authoritative = Some(values::flag(n, arg)?);
        }
        Setting::AccessChecker => cfg.access_checker = Some(Command::parse(n, arg)?),
        Setting::AccessCheckerAuthoritative => {
            cfg.access_checker_authoritative = Some(values::flag(n, arg)?);
        }
        _ => return Err(wrong_config(n, "server")),
    }
    Ok(())
}

fn check_arity(d: &Directive, written_name: &str, args: &[String]) -> Result<(), String> {
    if d.args.accepts(args.len()) {
        Ok(())
    } else {
        Err(d.arity_error(written_name, args.len()))
    }
}

fn non_empty(directive: &str, word: &str, what: &str) -> Result<String, String> {
    if word.is_empty() {
        return Err(format!("{directive}: the {what} is empty"));
    }
    Ok(word.to_string())
}

/// A caller bug (the directive belongs to the other config), reported
/// as a config error rather than a panic inside httpd.
fn wrong_config(directive: &str, kind: &str) -> String {
    format!("{directive}: internal error: this is a {kind} setting")
}
