//! Configuration: the directive table, typed per-server and
//! per-directory settings with their 2.3.9 defaults, and merging.

mod command;
pub mod defaults;
mod values;

#[cfg(test)]
mod test_files;

pub use command::{split_command_line, Command, FileId};
