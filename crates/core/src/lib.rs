//! mod_fcgid's pure core: everything that decides, and nothing that does IO
//! or knows httpd. The module (the root package) drives it from httpd's
//! hooks and the manager's event loop.
//!
//! - `config`: the directive table, typed settings, defaults and merging
//! - `pm`: the process manager's wire protocol, spawn policy and state machine
//! - `status`: the pools as the status page shows them

#![forbid(unsafe_code)]

pub mod config;
pub mod pm;
pub mod status;
