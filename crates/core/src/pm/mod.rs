//! The process manager's pure parts. The daemon (in the module) feeds the
//! state machine events and the time, and carries out the actions it gets.
//!
//! - `wire`: messages between httpd children and the manager
//! - `policy`: spawn and stop rules (takes time as input)
//! - `state`: the manager's bookkeeping as a state machine
//! - `refuse_kind`: whether a refusal answers 503 or 500

pub mod allow;
pub mod policy;
pub mod refuse_kind;
pub mod report;
pub mod state;
pub mod table;
pub mod wire;

#[cfg(test)]
mod state_fast_tests;
#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod wire_tests;
