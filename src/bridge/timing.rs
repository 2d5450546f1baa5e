//! How long a request spent in mod_fcgid: request notes that `LogFormat`
//! reads with `%{NAME}n`, and the slow-request line (FcgidSlowRequestLog).

use super::decimal::Decimal;
use crate::ffi::http_status::HttpStatus;
use crate::ffi::log::Level;
use crate::ffi::request::Request;
use std::time::{Duration, Instant};

/// Microseconds the request waited for the manager to lend it a process.
pub const WAIT_NOTE: &std::ffi::CStr = c"fcgid_wait_us";
/// Microseconds from connecting to the process to its END_REQUEST.
pub const APP_NOTE: &std::ffi::CStr = c"fcgid_app_us";
/// The pid of the process that served the request.
pub const PID_NOTE: &std::ffi::CStr = c"fcgid_pid";
/// The class key, as the status page and OpenMetrics label it.
pub const CLASS_NOTE: &std::ffi::CStr = c"fcgid_class";

/// What one loan of a process took: stamped when the manager grants it
/// and when it is given back. A request retried on another process (its
/// first one was gone) reports the loan that served it.
#[derive(Debug, Clone, Copy)]
pub struct LoanTimes {
    pub pid: i32,
    /// Asking the manager until the grant.
    pub waited: Duration,
    pub granted: Instant,
    /// When the app had ended the request and the process went back.
    pub returned: Option<Instant>,
}

impl LoanTimes {
    pub fn new(pid: i32, asked: Instant) -> LoanTimes {
        let granted = Instant::now();
        LoanTimes {
            pid,
            waited: granted.saturating_duration_since(asked),
            granted,
            returned: None,
        }
    }

    /// A request that got no process (refused, or the manager could not be
    /// asked): only its wait, and no pid.
    pub fn refused(asked: Instant) -> LoanTimes {
        LoanTimes::new(0, asked)
    }

    /// The app's time, once it has ended the request.
    pub fn app(&self) -> Option<Duration> {
        self.returned
            .map(|r| r.saturating_duration_since(self.granted))
    }

    /// The app's time, or for a process that failed the request the time
    /// until now; none for a request that got no process.
    fn app_so_far(&self) -> Option<Duration> {
        self.app()
            .or_else(|| (self.pid > 0).then(|| self.granted.elapsed()))
    }
}

/// A request mod_fcgid could not answer from an app: the status to give,
/// and its times so far, so that its notes and slow line are written too
/// (a 503 after the whole wait is among the slowest requests there are).
#[derive(Debug, Clone, Copy)]
pub struct Failed {
    pub status: HttpStatus,
    pub times: LoanTimes,
}

fn micros(d: Duration) -> Decimal {
    Decimal::new(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Sets the notes of a request that asked for a process.
pub fn note(req: &mut Request, times: &LoanTimes) {
    req.set_note(WAIT_NOTE, micros(times.waited).as_str());
    if let Some(app) = times.app_so_far() {
        req.set_note(APP_NOTE, micros(app).as_str());
    }
    if times.pid > 0 {
        req.set_note(
            PID_NOTE,
            Decimal::new(times.pid.unsigned_abs().into()).as_str(),
        );
    }
}

/// `2.345 s`: milliseconds are enough for a person reading the log.
fn seconds(d: Duration) -> String {
    format!("{}.{:03} s", d.as_secs(), d.subsec_millis())
}

/// One warn line when the request's wait plus the app's time is over
/// `threshold` (zero: off): the URI, the class, the pid and both times.
pub fn log_if_slow(req: &Request, times: &LoanTimes, threshold: Duration) {
    if threshold.is_zero() {
        return;
    }
    let app = times.app_so_far();
    let total = times.waited + app.unwrap_or_default();
    if total <= threshold {
        return;
    }
    let pid = match times.pid {
        0 => "none".to_string(),
        pid => pid.to_string(),
    };
    let uri = String::from_utf8_lossy(req.uri().unwrap_or_default());
    req.log(
        Level::Warn,
        &format!(
            "mod_fcgid: slow request {uri}: {} in mod_fcgid (waiting for a process {}, \
             app {}), over FcgidSlowRequestLog {}; pid {}, class {}",
            seconds(total),
            seconds(times.waited),
            app.map_or_else(|| "none".to_string(), seconds),
            seconds(threshold),
            pid,
            req.note(CLASS_NOTE).unwrap_or("-"),
        ),
    );
}
