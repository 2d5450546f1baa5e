//! The connections an httpd child keeps open to app processes between
//! requests (FCGI_KEEP_CONN), shared by its threads.
//!
//! A kept connection saves a connect and an accept per request on both
//! sides, but while it is kept the process serves only this child (the
//! app reads that one connection). So it is kept only for as long as the
//! client connection whose request used it may send another: each hold
//! belongs to one client connection, whose next request tries that
//! process first, and ends when that client connection closes. Clients
//! that open a connection per request never leave a process held.

use super::table::{Claim, Released, Table, Word};
use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

/// An app connection handed back with the process: `reused` if it is
/// one this child had kept already (the manager has its copy).
pub struct AppStream {
    pub stream: UnixStream,
    pub reused: bool,
}

/// What this child knows of one process (by table and slot).
struct Kept {
    /// The slot's epoch: the process it is about.
    epoch: u8,
    /// The connection it keeps, while it holds the slot.
    stream: Option<UnixStream>,
    /// The process closes connections it was asked to keep: not asked again.
    closes: bool,
    /// The client connection the hold belongs to.
    owner: i64,
}

#[derive(Default)]
struct State {
    by_slot: HashMap<(u64, u32), Kept>,
    /// Client connection -> the (table, class, slot) it holds.
    by_client: HashMap<i64, (u64, u32, u32)>,
}

static STATE: once_cell::sync::Lazy<Mutex<State>> =
    once_cell::sync::Lazy::new(|| Mutex::new(State::default()));

/// Ends a connection a copy of which the manager may have: closing alone
/// would leave the app reading it.
pub fn end(stream: &UnixStream) {
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

fn epoch(claim: &Claim) -> u8 {
    Word::unpack(claim.word).epoch
}

/// The slot to try first for client connection `client`'s request of
/// `class`: the one it holds.
pub fn preferred(client: i64, table: u64, class: u32) -> Option<u32> {
    let st = STATE.lock().ok()?;
    match st.by_client.get(&client) {
        Some(&(t, c, slot)) if t == table && c == class => Some(slot),
        _ => None,
    }
}

/// `claim` on `table`: the connection this child kept to its process (if
/// the claim was of this child's hold), and whether the app may be asked
/// to keep this request's connection.
pub fn claimed(table: u64, claim: &Claim) -> (Option<UnixStream>, bool) {
    let Ok(mut st) = STATE.lock() else {
        return (None, false);
    };
    let key = (table, claim.slot);
    let Some(k) = st.by_slot.get(&key) else {
        return (None, true);
    };
    if k.epoch == epoch(claim) && k.closes {
        return (None, false);
    }
    let live = k.epoch == epoch(claim) && claim.held;
    let stream = st.by_slot.remove(&key).and_then(|k| k.stream);
    match stream {
        Some(s) if live => (Some(s), true),
        // Another process's, or a hold the manager broke: dead.
        Some(s) => {
            end(&s);
            (None, true)
        }
        None => (None, true),
    }
}

/// Releases `claim` through `release(keep)` (the table's compare-exchange) and,
/// if that leaves the slot held by this child, keeps `stream` for client
/// connection `client`; otherwise the stream is ended. Both happen under
/// this child's lock: the moment the slot is held, another thread of the
/// child may claim it as its own hold, and it must then find the
/// connection here. (Found missing, that thread would connect anew and
/// wait in the backlog of an app still reading the kept connection.)
/// The second value is true if this is that client connection's first
/// hold (its closing must then end them: `client_closed`).
pub fn release_holding(
    client: i64,
    table: u64,
    class: u32,
    claim: &Claim,
    stream: UnixStream,
    release: impl FnOnce(bool) -> Released,
) -> (Released, bool) {
    let Ok(mut st) = STATE.lock() else {
        // No hold can be recorded (a panic elsewhere): none is made.
        end(&stream);
        return (release(false), false);
    };
    let released = release(true);
    if released != Released::Held {
        end(&stream);
        return (released, false);
    }
    let kept = Kept {
        epoch: epoch(claim),
        stream: Some(stream),
        closes: false,
        owner: client,
    };
    if let Some(s) = st
        .by_slot
        .insert((table, claim.slot), kept)
        .and_then(|k| k.stream)
    {
        end(&s);
    }
    let first = st
        .by_client
        .insert(client, (table, class, claim.slot))
        .is_none();
    (released, first)
}

/// `claim`'s process closed a connection it was asked to keep.
pub fn closes_connections(table: u64, claim: &Claim) {
    if let Ok(mut st) = STATE.lock() {
        let kept = Kept {
            epoch: epoch(claim),
            stream: None,
            closes: true,
            owner: 0,
        };
        if let Some(s) = st
            .by_slot
            .insert((table, claim.slot), kept)
            .and_then(|k| k.stream)
        {
            end(&s);
        }
    }
}

/// Client connection `client` closed: what it holds is let go (slots held
/// by this child `pid` in `table` become claimable by anyone) and its
/// connections ended. Holds on other tables (replaced managers') are just
/// ended: those managers stop their idle processes anyway.
pub fn client_closed(client: i64, pid: u32, table: Option<&Table>) {
    let Ok(mut st) = STATE.lock() else {
        return;
    };
    st.by_client.remove(&client);
    st.by_slot.retain(|&(gen, slot), k| {
        if k.owner != client || k.stream.is_none() {
            return true;
        }
        if let Some(t) = table.filter(|t| t.generation() == gen) {
            // Let go first: a claimant's connection waits in the app's
            // queue the moment until the end below.
            t.unhold(slot, pid);
        }
        if let Some(s) = &k.stream {
            end(s);
        }
        false
    });
}
