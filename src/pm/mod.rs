//! The process manager: one daemon, forked from the httpd parent, that owns
//! every app process for all httpd children. Its pure parts (wire protocol,
//! spawn policy, state machine) live in `fcgid_core::pm`; here is the IO:
//!
//! - `daemon`: the manager's event loop (sockets, processes, signals)
//! - `client`: what an httpd child calls to borrow and return a process
//! - `held_conns`: the manager's copies of connections children keep to apps
//! - `kept_conns`: the connections a child keeps to apps between requests
//! - `launch`: forking the manager from httpd and restarting it
//! - `ipc_dir`: the directory of their sockets, the User's alone
//! - `shared_table`: the file behind the table children claim processes from
//! - `socket_path`: an app socket's path, without an allocation per claim

pub use fcgid_core::pm::{allow, policy, refuse_kind, report, state, table, wire};

pub mod client;
pub mod daemon;
pub mod held_conns;
pub mod ipc_dir;
pub mod kept_conns;
pub mod launch;
mod paired_fds;
pub mod shared_table;
pub mod socket_path;
