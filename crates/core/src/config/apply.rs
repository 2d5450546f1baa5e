//! Applying one directive line to a config: the arity check, then the
//! row's own function (see `directives::Apply`). The functions of the
//! hand-written rows are here; the single-valued settings' are generated
//! in `settings.rs`.

use super::cmd_options::CmdOptions;
use super::command::Command;
use super::dir::{DirConfig, Wrapper};
use super::directives::{Apply, Directive};
use super::server::ServerConfig;
use super::values;

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
    match d.apply {
        Apply::Server(f) => f(cfg, written_name, args),
        Apply::Dir(_) => Err(wrong_config(written_name, "directory")),
    }
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
    match d.apply {
        Apply::Dir(f) => f(cfg, written_name, args),
        Apply::Server(_) => Err(wrong_config(written_name, "server")),
    }
}

pub(super) fn ipc_dir(cfg: &mut ServerConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.ipc_dir = Some(non_empty(n, &args[0], "path")?);
    Ok(())
}

pub(super) fn process_table_file(
    cfg: &mut ServerConfig,
    n: &str,
    args: &[String],
) -> Result<(), String> {
    cfg.process_table_file = Some(non_empty(n, &args[0], "path")?);
    Ok(())
}

pub(super) fn initial_env(cfg: &mut ServerConfig, n: &str, args: &[String]) -> Result<(), String> {
    let name = non_empty(n, &args[0], "variable name")?;
    let value = args.get(1).map_or("", String::as_str);
    cfg.set_initial_env(&name, value);
    Ok(())
}

pub(super) fn pass_header(cfg: &mut ServerConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.pass_headers
        .push(non_empty(n, &args[0], "header name")?);
    Ok(())
}

pub(super) fn cmd_options(cfg: &mut ServerConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.set_cmd_options(CmdOptions::parse(n, args)?);
    Ok(())
}

pub(super) fn wrapper(cfg: &mut DirConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.set_wrapper(Wrapper::parse(n, args)?);
    Ok(())
}

pub(super) fn authenticator(cfg: &mut DirConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.authenticator = Some(Command::parse(n, &args[0])?);
    Ok(())
}

pub(super) fn authenticator_authoritative(
    cfg: &mut DirConfig,
    n: &str,
    args: &[String],
) -> Result<(), String> {
    cfg.authenticator_authoritative = Some(values::flag(n, &args[0])?);
    Ok(())
}

pub(super) fn authorizer(cfg: &mut DirConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.authorizer = Some(Command::parse(n, &args[0])?);
    Ok(())
}

pub(super) fn authorizer_authoritative(
    cfg: &mut DirConfig,
    n: &str,
    args: &[String],
) -> Result<(), String> {
    cfg.authorizer_authoritative = Some(values::flag(n, &args[0])?);
    Ok(())
}

pub(super) fn access_checker(cfg: &mut DirConfig, n: &str, args: &[String]) -> Result<(), String> {
    cfg.access_checker = Some(Command::parse(n, &args[0])?);
    Ok(())
}

pub(super) fn access_checker_authoritative(
    cfg: &mut DirConfig,
    n: &str,
    args: &[String],
) -> Result<(), String> {
    cfg.access_checker_authoritative = Some(values::flag(n, &args[0])?);
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
