//! Messages between httpd children and the process manager, and their
//! framing: a 4-byte big-endian length, then a 1-byte kind, then fields.
//! Pure: bytes in, messages out.

use super::allow::AllowList;
use super::policy::GlobalLimits;
pub use super::report::{ClassReport, StatusReport};
use std::time::Duration;

/// Everything the manager needs to identify a class and spawn its processes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassSpec {
    /// Executable identity (device, inode) plus command line, vhost and user:
    /// processes are shared only within one class.
    pub key: String,
    pub argv: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    pub limits: ClassLimits,
    /// Who its processes run as: the httpd User's ids, or a vhost's
    /// `SuexecUserGroup` (then they are started through httpd's suexec).
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassLimits {
    pub max_processes: u32,
    pub min_processes: u32,
    pub idle_timeout: Duration,
    pub lifetime: Duration,
    pub busy_timeout: Duration,
    /// 0 = unlimited
    pub max_requests: u32,
}

/// Where a class is in the shared process table (see `table`): the table's
/// generation, the class's entry, and the stamp of its current generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastRef {
    pub table: u64,
    pub class: u32,
    pub stamp: u32,
}

/// A process's slot in the shared table of generation `table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSlot {
    pub table: u64,
    pub slot: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The request completed; the process is ready for another.
    Done,
    /// The process misbehaved or the request was cut: stop it.
    Broken,
    /// The client hung up while the app was still streaming past what is
    /// worth reading to the end: stop it, but the app is not at fault.
    ClientGone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// child -> PM: lend me a process of this class; wait at most `wait`.
    Acquire { spec: ClassSpec, wait: Duration },
    /// PM -> child: use the process listening at `socket` (its pid `pid`,
    /// for the request's log notes). `fast` tells how to claim this
    /// class's idle processes from the shared table; `slot` where the
    /// child records the request it serves (for the status page).
    /// `with_conn`: an open connection to the process comes with the
    /// message (SCM_RIGHTS), the one its last request ended on; the child
    /// sends on it instead of connecting (see `Release`).
    Granted {
        proc_id: u64,
        pid: i32,
        socket: Vec<u8>,
        fast: Option<FastRef>,
        slot: Option<TableSlot>,
        with_conn: bool,
    },
    /// PM -> child: no process could be had; `reason` is for the log.
    Refused { reason: String },
    /// PM -> child: the class's program cannot be started at all (it
    /// cannot be executed, suexec is off): a fault of the configuration or
    /// the file, not of load, so the request gets 500, not 503.
    CannotStart { reason: String },
    /// child -> PM: the lent process is back. `with_conn`: the connection
    /// its request ended on comes with the message (SCM_RIGHTS), open, the
    /// app asked to keep it: when the manager lends the process on at once
    /// (requests wait), the connection goes with the grant, and the app
    /// serves the next request without a new connection to accept; else
    /// the manager ends it.
    Release {
        proc_id: u64,
        outcome: Outcome,
        with_conn: bool,
    },
    /// httpd parent -> PM: a new configuration's server-wide limits (a
    /// graceful restart that keeps this manager and its warm processes).
    Reconfigure {
        global: GlobalLimits,
        allow: AllowList,
    },
    /// child -> PM: a process claimed from the shared table comes back
    /// through the manager (requests wait, it must retire, or `outcome`
    /// is not Done). The request is counted in the table already.
    HandBack {
        table: u64,
        slot: u32,
        proc_id: u64,
        outcome: Outcome,
    },
    /// child -> PM: a process went idle in the table while requests of
    /// its class started waiting.
    Nudge { table: u64, class: u32 },
    /// child -> PM, with a copy of the child's connection to the process
    /// in `slot` (SCM_RIGHTS): the child keeps that connection open
    /// between requests, and may hold the slot idle. The manager breaks
    /// such a hold by shutting its copy down. `epoch`: the slot's, so a
    /// copy for a process since replaced is known; `served`: the process's
    /// request count at the hold, so a copy overtaken by a later holder's
    /// (sent on another connection, read first) is known too.
    Holding {
        table: u64,
        slot: u32,
        epoch: u8,
        served: u64,
    },
    /// child -> PM: this child claimed `slot` while child `holder` held it
    /// idle: end that child's connection, so the app accepts this one.
    Break { table: u64, slot: u32, holder: u32 },
    /// anyone -> PM: describe the pools.
    StatusQuery,
    /// PM -> asker: the description's head (how many classes follow)...
    StatusHead { manager_pid: i32, classes: u32 },
    /// ... then each class in a frame of its own, so no frame grows with
    /// the number of classes (`report::encode_frames`, `report::Gather`).
    StatusClass(Box<ClassReport>),
}

const ACQUIRE: u8 = 1;
const GRANTED: u8 = 2;
const REFUSED: u8 = 3;
const RELEASE: u8 = 4;
const STATUS_QUERY: u8 = 5;
// 6 was the whole report in one frame.
const RECONFIGURE: u8 = 7;
const STATUS_HEAD: u8 = 8;
const STATUS_CLASS: u8 = 9;
const CANNOT_START: u8 = 10;
const HAND_BACK: u8 = 11;
const NUDGE: u8 = 12;
const HOLDING: u8 = 13;
const BREAK: u8 = 14;

/// A frame larger than this is refused: it can only be corruption.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad process-manager message: {}", self.0)
    }
}

pub(super) struct Writer(Vec<u8>);

impl Writer {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(super) fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    pub(super) fn millis(&mut self, d: Duration) {
        self.u64(d.as_millis().min(u64::MAX as u128) as u64);
    }
}

pub(super) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.0.len() < n {
            return Err(WireError("truncated field"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(super) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub(super) fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub(super) fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    pub(super) fn string(&mut self) -> Result<String, WireError> {
        String::from_utf8(self.bytes()?).map_err(|_| WireError("text is not UTF-8"))
    }
    pub(super) fn millis(&mut self) -> Result<Duration, WireError> {
        Ok(Duration::from_millis(self.u64()?))
    }
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Done => 0,
        Outcome::Broken => 1,
        Outcome::ClientGone => 2,
    }
}

fn outcome_from(c: u8) -> Result<Outcome, WireError> {
    Ok(match c {
        0 => Outcome::Done,
        1 => Outcome::Broken,
        2 => Outcome::ClientGone,
        _ => return Err(WireError("unknown release outcome")),
    })
}

fn flag(c: u8) -> Result<bool, WireError> {
    match c {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(WireError("bad flag")),
    }
}

/// An Acquire frame for `spec`, from a borrowed spec (the request keeps
/// it for a retry; `Message::Acquire` would need its own copy).
pub fn encode_acquire(dst: &mut Vec<u8>, spec: &ClassSpec, wait: Duration) {
    frame(dst, |w| acquire_body(w, spec, wait));
}

/// A StatusClass frame from a borrowed class (the manager's report is
/// encoded class by class, without copies).
pub fn encode_status_class(dst: &mut Vec<u8>, class: &ClassReport) {
    frame(dst, |w| {
        w.u8(STATUS_CLASS);
        super::report::encode_class(w, class);
    });
}

fn acquire_body(w: &mut Writer, spec: &ClassSpec, wait: Duration) {
    w.u8(ACQUIRE);
    w.millis(wait);
    w.bytes(spec.key.as_bytes());
    w.u32(spec.argv.len() as u32);
    for a in &spec.argv {
        w.bytes(a);
    }
    w.bytes(&spec.cwd);
    w.u32(spec.env.len() as u32);
    for (k, v) in &spec.env {
        w.bytes(k);
        w.bytes(v);
    }
    let l = &spec.limits;
    w.u32(l.max_processes);
    w.u32(l.min_processes);
    w.millis(l.idle_timeout);
    w.millis(l.lifetime);
    w.millis(l.busy_timeout);
    w.u32(l.max_requests);
    w.u32(spec.uid);
    w.u32(spec.gid);
}

/// Appends one frame: `body` writes in place after room for the length,
/// which is filled in last (no second buffer, no copy).
fn frame(dst: &mut Vec<u8>, body: impl FnOnce(&mut Writer)) {
    let mut w = Writer(std::mem::take(dst));
    let start = w.0.len();
    w.0.extend_from_slice(&[0; 4]);
    body(&mut w);
    let len = (w.0.len() - start - 4) as u32;
    w.0[start..start + 4].copy_from_slice(&len.to_be_bytes());
    *dst = w.0;
}

impl Message {
    /// Appends this message as one frame.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        frame(dst, |w| self.body(w));
    }

    fn body(&self, w: &mut Writer) {
        match self {
            Message::Acquire { spec, wait } => acquire_body(w, spec, *wait),
            Message::Granted {
                proc_id,
                pid,
                socket,
                fast,
                slot,
                with_conn,
            } => {
                w.u8(GRANTED);
                w.u64(*proc_id);
                w.u32(*pid as u32);
                w.bytes(socket);
                match fast {
                    None => w.u8(0),
                    Some(f) => {
                        w.u8(1);
                        w.u64(f.table);
                        w.u32(f.class);
                        w.u32(f.stamp);
                    }
                }
                match slot {
                    None => w.u8(0),
                    Some(s) => {
                        w.u8(1);
                        w.u64(s.table);
                        w.u32(s.slot);
                    }
                }
                w.u8(u8::from(*with_conn));
            }
            Message::HandBack {
                table,
                slot,
                proc_id,
                outcome,
            } => {
                w.u8(HAND_BACK);
                w.u64(*table);
                w.u32(*slot);
                w.u64(*proc_id);
                w.u8(outcome_code(*outcome));
            }
            Message::Nudge { table, class } => {
                w.u8(NUDGE);
                w.u64(*table);
                w.u32(*class);
            }
            Message::Holding {
                table,
                slot,
                epoch,
                served,
            } => {
                w.u8(HOLDING);
                w.u64(*table);
                w.u32(*slot);
                w.u8(*epoch);
                w.u64(*served);
            }
            Message::Break {
                table,
                slot,
                holder,
            } => {
                w.u8(BREAK);
                w.u64(*table);
                w.u32(*slot);
                w.u32(*holder);
            }
            Message::Refused { reason } => {
                w.u8(REFUSED);
                w.bytes(reason.as_bytes());
            }
            Message::CannotStart { reason } => {
                w.u8(CANNOT_START);
                w.bytes(reason.as_bytes());
            }
            Message::Release {
                proc_id,
                outcome,
                with_conn,
            } => {
                w.u8(RELEASE);
                w.u64(*proc_id);
                w.u8(outcome_code(*outcome));
                w.u8(u8::from(*with_conn));
            }
            Message::Reconfigure { global: g, allow } => {
                w.u8(RECONFIGURE);
                for v in [
                    g.max_processes,
                    g.spawn_score,
                    g.termination_score,
                    g.time_score,
                    g.spawn_score_up_limit,
                ] {
                    w.u32(v);
                }
                let (commands, roots) = allow.parts();
                for list in [commands, roots] {
                    w.u32(list.len() as u32);
                    for item in &list {
                        w.bytes(item);
                    }
                }
            }
            Message::StatusQuery => w.u8(STATUS_QUERY),
            Message::StatusHead {
                manager_pid,
                classes,
            } => {
                w.u8(STATUS_HEAD);
                w.u32(*manager_pid as u32);
                w.u32(*classes);
            }
            Message::StatusClass(class) => {
                w.u8(STATUS_CLASS);
                super::report::encode_class(w, class);
            }
        }
    }

    /// Takes one complete frame off the front of `buf`, if there is one.
    pub fn decode(buf: &mut Vec<u8>) -> Result<Option<Message>, WireError> {
        let Some((msg, used)) = Self::decode_at(buf)? else {
            return Ok(None);
        };
        buf.drain(..used);
        Ok(Some(msg))
    }

    /// The complete frame at the front of `buf`, if there is one, and its
    /// length: a reader of many frames takes them at an offset and drains
    /// its buffer once, not once per frame.
    pub fn decode_at(buf: &[u8]) -> Result<Option<(Message, usize)>, WireError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(WireError("frame length out of range"));
        }
        if buf.len() < 4 + len {
            return Ok(None);
        }
        Ok(Some((Self::parse(&buf[4..4 + len])?, 4 + len)))
    }

    fn parse(body: &[u8]) -> Result<Message, WireError> {
        let mut r = Reader(body);
        let msg = match r.u8()? {
            ACQUIRE => {
                let wait = r.millis()?;
                let key = r.string()?;
                let argc = r.u32()? as usize;
                let argv = (0..argc).map(|_| r.bytes()).collect::<Result<_, _>>()?;
                let cwd = r.bytes()?;
                let envc = r.u32()? as usize;
                let env = (0..envc)
                    .map(|_| Ok((r.bytes()?, r.bytes()?)))
                    .collect::<Result<_, _>>()?;
                let limits = ClassLimits {
                    max_processes: r.u32()?,
                    min_processes: r.u32()?,
                    idle_timeout: r.millis()?,
                    lifetime: r.millis()?,
                    busy_timeout: r.millis()?,
                    max_requests: r.u32()?,
                };
                let (uid, gid) = (r.u32()?, r.u32()?);
                Message::Acquire {
                    spec: ClassSpec {
                        key,
                        argv,
                        cwd,
                        env,
                        limits,
                        uid,
                        gid,
                    },
                    wait,
                }
            }
            GRANTED => Message::Granted {
                proc_id: r.u64()?,
                pid: r.u32()? as i32,
                socket: r.bytes()?,
                fast: match r.u8()? {
                    0 => None,
                    1 => Some(FastRef {
                        table: r.u64()?,
                        class: r.u32()?,
                        stamp: r.u32()?,
                    }),
                    _ => return Err(WireError("bad class reference")),
                },
                slot: match r.u8()? {
                    0 => None,
                    1 => Some(TableSlot {
                        table: r.u64()?,
                        slot: r.u32()?,
                    }),
                    _ => return Err(WireError("bad table slot")),
                },
                with_conn: flag(r.u8()?)?,
            },
            HAND_BACK => Message::HandBack {
                table: r.u64()?,
                slot: r.u32()?,
                proc_id: r.u64()?,
                outcome: outcome_from(r.u8()?)?,
            },
            NUDGE => Message::Nudge {
                table: r.u64()?,
                class: r.u32()?,
            },
            HOLDING => Message::Holding {
                table: r.u64()?,
                slot: r.u32()?,
                epoch: r.u8()?,
                served: r.u64()?,
            },
            BREAK => Message::Break {
                table: r.u64()?,
                slot: r.u32()?,
                holder: r.u32()?,
            },
            REFUSED => Message::Refused {
                reason: r.string()?,
            },
            CANNOT_START => Message::CannotStart {
                reason: r.string()?,
            },
            RELEASE => Message::Release {
                proc_id: r.u64()?,
                outcome: outcome_from(r.u8()?)?,
                with_conn: flag(r.u8()?)?,
            },
            RECONFIGURE => {
                let global = GlobalLimits {
                    max_processes: r.u32()?,
                    spawn_score: r.u32()?,
                    termination_score: r.u32()?,
                    time_score: r.u32()?,
                    spawn_score_up_limit: r.u32()?,
                };
                let mut lists = [Vec::new(), Vec::new()];
                for list in &mut lists {
                    for _ in 0..r.u32()? {
                        list.push(r.bytes()?);
                    }
                }
                let [commands, roots] = lists;
                let mut allow = AllowList::default();
                for c in &commands {
                    allow.add_command(c);
                }
                for root in &roots {
                    allow.add_root(root);
                }
                // Only the form `encode` writes (sorted, no duplicates,
                // roots without a trailing slash): one message, one frame.
                if allow.parts() != (commands, roots) {
                    return Err(WireError("allow list not in its canonical form"));
                }
                Message::Reconfigure { global, allow }
            }
            STATUS_QUERY => Message::StatusQuery,
            STATUS_HEAD => Message::StatusHead {
                manager_pid: r.u32()? as i32,
                classes: r.u32()?,
            },
            STATUS_CLASS => Message::StatusClass(Box::new(super::report::decode_class(&mut r)?)),
            _ => return Err(WireError("unknown message kind")),
        };
        if !r.0.is_empty() {
            return Err(WireError("trailing bytes in frame"));
        }
        Ok(msg)
    }
}
