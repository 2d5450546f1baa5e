//! The process manager's pure parts. The daemon (in the module) feeds the
//! state machine events and the time, and carries out the actions it gets.
//!
//! - `wire`: messages between httpd children and the manager
//! - `policy`: spawn and stop rules (takes time as input)
//! - `state`: the manager's bookkeeping as a state machine

pub mod policy;
pub mod state;
pub mod wire;

#[cfg(test)]
mod state_tests;
#[cfg(test)]
mod wire_tests;

/// The pools as `key: value` lines: the manager, then one block per class
/// (starting at its `class:` line).
pub fn status_text(mgr: &state::Manager, manager_pid: i32) -> String {
    let mut out = format!(
        "manager: {manager_pid}\nprocesses: {}\nbusy: {}\n",
        mgr.process_count(),
        mgr.busy_count()
    );
    for c in mgr.view() {
        let exits: Vec<String> = c.exits.iter().map(|(r, n)| format!("{r}={n}")).collect();
        out.push_str(&format!(
            "class: {}\ncommand: {}\nprocesses: {}\nbusy: {}\nidle: {}\nwaiting: {}\nspawns: {}\nrequests: {}\nspawn_score: {}\nfailed_starts: {}\nexits: {}\n",
            c.key, c.command, c.processes, c.busy, c.idle, c.waiting, c.spawns, c.requests,
            c.spawn_score, c.early_deaths, exits.join(" ")
        ));
        for (pid, state, requests) in c.pids {
            out.push_str(&format!("process: {pid} {state} {requests}\n"));
        }
    }
    out
}
