//! HTTP statuses and hook results as types. The bridge speaks these; they
//! become httpd's `int` only where a value crosses into httpd.

use super::bindings as b;
use std::fmt;
use std::os::raw::c_int;

/// An HTTP status code (100 to 599).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HttpStatus(u16);

impl HttpStatus {
    pub const OK: HttpStatus = HttpStatus(200);
    pub const FOUND: HttpStatus = HttpStatus(302);
    pub const NOT_MODIFIED: HttpStatus = HttpStatus(304);
    pub const BAD_REQUEST: HttpStatus = HttpStatus(400);
    pub const UNAUTHORIZED: HttpStatus = HttpStatus(401);
    pub const FORBIDDEN: HttpStatus = HttpStatus(403);
    pub const NOT_FOUND: HttpStatus = HttpStatus(404);
    pub const PAYLOAD_TOO_LARGE: HttpStatus = HttpStatus(413);
    pub const INTERNAL_SERVER_ERROR: HttpStatus = HttpStatus(500);
    pub const BAD_GATEWAY: HttpStatus = HttpStatus(502);
    pub const SERVICE_UNAVAILABLE: HttpStatus = HttpStatus(503);

    /// A status from httpd (`r->status`, a scanner's answer); None for
    /// anything outside 100..=599 (OK, DECLINED, garbage).
    pub fn from_c_int(code: c_int) -> Option<HttpStatus> {
        u16::try_from(code)
            .ok()
            .filter(|c| (100..=599).contains(c))
            .map(HttpStatus)
    }

    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// For httpd: `r->status`, a hook's return value.
    pub fn as_c_int(self) -> c_int {
        c_int::from(self.0)
    }
}

impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a handler or hook tells httpd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookResult {
    /// Done (`OK`): for a handler, the response was produced.
    Ok,
    /// Not ours (`DECLINED`): the next module decides.
    Declined,
    /// Failed, or answered with this status (httpd sends the error page).
    Status(HttpStatus),
}

impl HookResult {
    /// httpd's code for a hook result.
    pub fn into_c_int(self) -> c_int {
        match self {
            HookResult::Ok => b::OK as c_int,
            HookResult::Declined => b::DECLINED,
            HookResult::Status(s) => s.as_c_int(),
        }
    }

    /// From what an httpd function returned (OK or a status). Anything else
    /// is not expected there and counts as a server error.
    pub fn from_c_int(code: c_int) -> HookResult {
        if code == b::OK as c_int {
            HookResult::Ok
        } else if code == b::DECLINED {
            HookResult::Declined
        } else {
            HookResult::Status(
                HttpStatus::from_c_int(code).unwrap_or(HttpStatus::INTERNAL_SERVER_ERROR),
            )
        }
    }
}

impl From<HttpStatus> for HookResult {
    fn from(s: HttpStatus) -> HookResult {
        HookResult::Status(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constants_are_httpds() {
        let pairs = [
            (HttpStatus::OK, b::HTTP_OK),
            (HttpStatus::FOUND, b::HTTP_MOVED_TEMPORARILY),
            (HttpStatus::NOT_MODIFIED, b::HTTP_NOT_MODIFIED),
            (HttpStatus::BAD_REQUEST, b::HTTP_BAD_REQUEST),
            (HttpStatus::UNAUTHORIZED, b::HTTP_UNAUTHORIZED),
            (HttpStatus::FORBIDDEN, b::HTTP_FORBIDDEN),
            (HttpStatus::NOT_FOUND, b::HTTP_NOT_FOUND),
            (
                HttpStatus::PAYLOAD_TOO_LARGE,
                b::HTTP_REQUEST_ENTITY_TOO_LARGE,
            ),
            (
                HttpStatus::INTERNAL_SERVER_ERROR,
                b::HTTP_INTERNAL_SERVER_ERROR,
            ),
            (HttpStatus::BAD_GATEWAY, b::HTTP_BAD_GATEWAY),
            (HttpStatus::SERVICE_UNAVAILABLE, b::HTTP_SERVICE_UNAVAILABLE),
        ];
        for (ours, httpd) in pairs {
            assert_eq!(ours.as_c_int(), httpd as c_int);
        }
    }

    #[test]
    fn conversions_at_the_boundary() {
        assert_eq!(HttpStatus::from_c_int(404), Some(HttpStatus::NOT_FOUND));
        assert_eq!(HttpStatus::from_c_int(0), None);
        assert_eq!(HttpStatus::from_c_int(-1), None);
        assert_eq!(HttpStatus::from_c_int(600), None);
        assert_eq!(HookResult::from_c_int(0), HookResult::Ok);
        assert_eq!(HookResult::from_c_int(b::DECLINED), HookResult::Declined);
        assert_eq!(HookResult::from_c_int(304), HttpStatus::NOT_MODIFIED.into());
        assert_eq!(
            HookResult::from_c_int(-7),
            HttpStatus::INTERNAL_SERVER_ERROR.into()
        );
        for r in [
            HookResult::Ok,
            HookResult::Declined,
            HttpStatus::BAD_GATEWAY.into(),
        ] {
            assert_eq!(HookResult::from_c_int(r.into_c_int()), r);
        }
        assert_eq!(HttpStatus::BAD_GATEWAY.to_string(), "502");
    }
}
