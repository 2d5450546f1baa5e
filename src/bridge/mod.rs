//! The request bridge: from an httpd request to a FastCGI exchange with an
//! app process and back.

pub mod app_conn;
pub mod auth;
pub mod body;
pub mod class;
pub mod env;
pub mod handler;
pub mod loan;

/// Reads the app's response headers with httpd's CGI scanner. Ok: the
/// scanner's status (OK, or e.g. 500 for a malformed header, 304); Err: the
/// app could not be read.
fn scan_headers(
    req: &mut crate::ffi::request::Request,
    app: &mut app_conn::AppConn,
) -> Result<std::os::raw::c_int, app_conn::AppError> {
    let mut read_error = None;
    let scanned = req.scan_cgi_headers(&mut |room| match app.next_line(room) {
        Ok(line) => line,
        Err(e) => {
            read_error = Some(e);
            None
        }
    });
    match read_error {
        Some(e) => Err(e),
        None => Ok(scanned),
    }
}
