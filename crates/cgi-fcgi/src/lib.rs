//! The parts of `cgi-fcgi` (the binary in `main.rs`), as a library so that
//! the command-line and `-f` file parsers can be tested and fuzzed alone
//! (`fuzz/`). See the binary's documentation for what the program does.
//!
//! - `args`: the command line and `-f` command files (pure)
//! - `addr`: connection names, connecting and listening
//! - `bridge`: one request over one connection
//! - `start`: starting application servers
//! - `failure`: exit statuses and the CGI error response

#![forbid(unsafe_code)]

pub mod addr;
pub mod args;
pub mod bridge;
pub mod failure;
pub mod start;

use fcgid_protocol as fcgi;
