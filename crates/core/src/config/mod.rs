//! Configuration: the directive table, typed per-server and
//! per-directory settings with their 2.3.9 defaults, and merging.
//!
//! Pure Rust: nothing here talks to httpd. The httpd-facing layer looks
//! a directive up with [`lookup`], checks where it appeared with
//! [`check_place`], and hands the words to [`apply_server`] or
//! [`apply_dir`] (by [`Directive::is_dir_setting`]); the `merge`
//! functions back httpd's merge hooks.

mod apply;
mod cmd_options;
mod command;
pub mod defaults;
mod dir;
mod directives;
mod server;
mod settings;
mod values;

#[cfg(test)]
mod test_files;
#[cfg(test)]
mod tests;

pub use apply::{apply_dir, apply_server};
pub use cmd_options::{CmdOptions, ProcessOptions, OPTION_NAMES};
pub use command::{split_command_line, Command, FileId};
pub use dir::{DirConfig, Wrapper};
pub use directives::{
    check_place, directives, lookup, Apply, Args, Directive, Place, Scope, TABLE,
};
pub use server::ServerConfig;
pub use settings::Scalars;
