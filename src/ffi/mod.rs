//! The FFI layer: raw bindings and the safe wrappers built on them. Nothing
//! outside this module touches an httpd or APR pointer.

pub mod answer_buf;
pub mod bindings;
pub mod directives;
pub mod guard;
pub mod hooks;
pub mod http_status;
pub mod log;
pub mod output;
pub mod pool;
pub mod process;
pub mod request;
pub mod served_paths;
pub mod server;
pub mod status_handler;
pub mod status_hook;
