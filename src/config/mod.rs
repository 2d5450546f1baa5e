//! Configuration: the directive table, typed per-server and
//! per-directory settings with their 2.3.9 defaults, and merging.

pub mod defaults;
mod values;
