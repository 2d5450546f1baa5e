//! Configuration: the directive table, typed per-server and
//! per-directory settings with their 2.3.9 defaults, and merging.

mod cmd_options;
mod command;
pub mod defaults;
mod dir;
mod directives;
mod server;
mod values;

#[cfg(test)]
mod test_files;

pub use cmd_options::{CmdOptions, ProcessOptions, OPTION_NAMES};
pub use command::{split_command_line, Command, FileId};
pub use dir::{DirConfig, Wrapper};
pub use directives::{check_place, directives, lookup, Args, Directive, Place, Scope, Setting};
pub use server::ServerConfig;
