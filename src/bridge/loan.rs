//! A process borrowed from the manager for one request.

use super::app_conn::AppConn;
use super::timing::{Failed, LoanTimes};
use crate::ffi::http_status::HttpStatus;
use crate::ffi::log::Level;
use crate::ffi::request::{ClientConnection, Request};
use crate::pm::client::{self, AcquireError, Lease};
use crate::pm::wire::{ClassSpec, Outcome};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The borrowed process, given back as soon as the app has ended the
/// request (before the client has the whole answer), so the next waiting
/// request gets it without delay. Dropping it unreturned tells the manager
/// the process is in an unknown state, and it is stopped.
pub struct Loan(Option<Lease>, LoanTimes, ClientConnection);

impl Loan {
    /// Borrows a process of `spec`'s class, waiting up to `wait`. On failure,
    /// logs one line naming `what` and the cause, and gives the status: 500
    /// when its program cannot be started (as C answers a failed exec),
    /// else 503, with the time it waited.
    pub fn borrow(
        req: &Request,
        spec: &ClassSpec,
        wait: Duration,
        what: &str,
    ) -> Result<Loan, Failed> {
        let asked = Instant::now();
        Loan::ask(req, spec, wait, what, asked).map_err(|status| Failed {
            status,
            times: LoanTimes::refused(asked),
        })
    }

    fn ask(
        req: &Request,
        spec: &ClassSpec,
        wait: Duration,
        what: &str,
        asked: Instant,
    ) -> Result<Loan, HttpStatus> {
        // Recorded in the process's table slot for the status page.
        let request: [&[u8]; 3] = [req.method(), b" ", req.unparsed_uri()];
        let conn = req.client_connection();
        let client = client::Client {
            id: conn.id,
            persists: conn.persists,
        };
        // An idle process from the shared table: the manager is not asked.
        if let Some(lease) = client::claim(spec, &request, client) {
            let times = LoanTimes::new(lease.pid, asked);
            return Ok(Loan(Some(lease), times, conn));
        }
        let Some(pm_socket) = crate::pm::launch::manager_socket() else {
            req.log(Level::Err, "mod_fcgid: the process manager is not running");
            return Err(HttpStatus::SERVICE_UNAVAILABLE);
        };
        match client::acquire(&pm_socket, spec, wait, &request) {
            Ok(lease) => {
                let times = LoanTimes::new(lease.pid, asked);
                Ok(Loan(Some(lease), times, conn))
            }
            Err(AcquireError::Refused(reason)) => {
                req.log(
                    Level::Warn,
                    &format!("mod_fcgid: can't apply process slot for {what}: {reason}"),
                );
                Err(HttpStatus::SERVICE_UNAVAILABLE)
            }
            Err(AcquireError::CannotStart(reason)) => {
                req.log(
                    Level::Err,
                    &format!("mod_fcgid: cannot serve {what}: {reason}"),
                );
                Err(HttpStatus::INTERNAL_SERVER_ERROR)
            }
            Err(e) => {
                req.log(
                    Level::Err,
                    &format!("mod_fcgid: can't apply process slot for {what}: {e}"),
                );
                Err(HttpStatus::SERVICE_UNAVAILABLE)
            }
        }
    }

    pub fn socket(&self) -> &Path {
        &self.0.as_ref().expect("process already returned").socket
    }

    /// Gives the process back, and with it the connection `app` used if
    /// it can carry the next request.
    pub fn give_back(&mut self, app: &mut AppConn) {
        if let Some(lease) = self.0.take() {
            self.1.returned = Some(Instant::now());
            if lease.release(Outcome::Done, app.take_reusable()) {
                let id = self.2.id;
                self.2.pool.on_cleanup(move || client::client_closed(id));
            }
        }
    }

    /// The connection kept to the process, if any, for a request `safe`
    /// to repeat or not (see `Lease::take_kept`).
    pub fn take_kept(&mut self, safe: impl FnOnce() -> bool) -> Option<UnixStream> {
        self.0.as_mut().and_then(|l| l.take_kept(safe))
    }

    /// Should the app be asked to keep the connection?
    pub fn keep(&self) -> bool {
        self.0.as_ref().is_some_and(|l| l.keep)
    }

    /// The kept connection was closed by the app (see `Lease`).
    pub fn app_closes_connections(&mut self) {
        if let Some(l) = self.0.as_mut() {
            l.app_closes_connections();
        }
    }

    /// When it was granted and given back, and its pid.
    pub fn times(&self) -> &LoanTimes {
        &self.1
    }

    /// Has the process been given back already?
    pub fn returned(&self) -> bool {
        self.0.is_none()
    }

    /// The client hung up and the app was still sending: the process is
    /// stopped, but the manager does not count it against the app.
    pub fn give_up_client_gone(&mut self) {
        if let Some(lease) = self.0.take() {
            self.1.returned = Some(Instant::now());
            lease.release(Outcome::ClientGone, None);
        }
    }
}
