//! A safe view of one `request_rec` for the request bridge.

use super::bindings as b;
use super::log::{request_raw, Level};
use super::pool::Pool;
use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int, c_long};

/// What `r->finfo` says the request's file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Missing,
    Directory,
    Regular { device: u64, inode: u64 },
    Other,
}

/// See `Request::save_response`.
pub struct SavedResponse {
    headers: *mut b::apr_table_t,
    status: c_int,
}

pub struct Request<'a> {
    r: &'a mut b::request_rec,
}

fn c_str_opt<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        return None;
    }
    // SAFETY: httpd's strings in request_rec are NUL-terminated and live as long
    // as the request pool, which outlives the Request borrow.
    unsafe { CStr::from_ptr(p) }.to_str().ok()
}

/// Calls `f` for every entry of an APR table.
pub(crate) fn table_for_each(t: *const b::apr_table_t, mut f: impl FnMut(&[u8], &[u8])) {
    if t.is_null() {
        return;
    }
    // SAFETY: an apr_table_t is an array header of apr_table_entry_t; entries
    // with a null key were removed and are skipped.
    unsafe {
        let arr = &*b::fcgid_shim_table_elts(t);
        let entries = arr.elts as *const b::apr_table_entry_t;
        for i in 0..arr.nelts as usize {
            let e = &*entries.add(i);
            if e.key.is_null() {
                continue;
            }
            let val = if e.val.is_null() {
                &b""[..]
            } else {
                CStr::from_ptr(e.val).to_bytes()
            };
            f(CStr::from_ptr(e.key).to_bytes(), val);
        }
    }
}

impl<'a> Request<'a> {
    /// # Safety
    /// `r` must be the live request_rec httpd passed to the current hook.
    pub unsafe fn from_raw(r: *mut b::request_rec) -> Option<Request<'a>> {
        // SAFETY: `r` is null or the live request (caller's contract), not
        // aliased by another Request during the hook.
        unsafe { r.as_mut() }.map(|r| Request { r })
    }

    pub fn as_ptr(&self) -> *const b::request_rec {
        self.r as *const b::request_rec
    }

    pub fn pool(&self) -> Pool {
        // SAFETY: the request pool lives as long as the request.
        unsafe { Pool::from_raw(self.r.pool) }
    }

    pub fn handler(&self) -> Option<&str> {
        c_str_opt(self.r.handler)
    }

    pub fn filename(&self) -> Option<&str> {
        c_str_opt(self.r.filename)
    }

    pub fn uri(&self) -> Option<&str> {
        c_str_opt(self.r.uri)
    }

    pub fn file_kind(&self) -> FileKind {
        let f = &self.r.finfo;
        match f.filetype {
            b::apr_filetype_e_APR_NOFILE => FileKind::Missing,
            b::apr_filetype_e_APR_DIR => FileKind::Directory,
            b::apr_filetype_e_APR_REG => FileKind::Regular {
                device: f.device,
                inode: f.inode,
            },
            _ => FileKind::Other,
        }
    }

    pub fn allows_exec_cgi(&mut self) -> bool {
        // SAFETY: ap_allow_options only reads the request's per-dir core config.
        (unsafe { b::ap_allow_options(self.r) } & b::OPT_EXECCGI as c_int) != 0
    }

    /// A name for the virtual host, part of a process class's identity.
    pub fn vhost_id(&self) -> String {
        // SAFETY: r->server is always set for a request.
        let s = unsafe { &*self.r.server };
        format!("{}:{}", c_str_opt(s.server_hostname).unwrap_or(""), s.port)
    }

    pub fn server(&self) -> *mut b::server_rec {
        self.r.server
    }

    pub fn per_dir_config(&self) -> *mut b::ap_conf_vector_t {
        self.r.per_dir_config
    }

    pub fn log(&self, level: Level, msg: &str) {
        request_raw(level, 0, self.as_ptr(), msg);
    }

    pub fn client_aborted(&self) -> bool {
        // SAFETY: r->connection is always set for a request.
        unsafe { (*self.r.connection).aborted != 0 }
    }

    pub fn header_in(&self, name: &CStr) -> Option<&str> {
        // SAFETY: headers_in is a live table; the returned value lives in it.
        c_str_opt(unsafe { b::apr_table_get(self.r.headers_in, name.as_ptr()) })
    }

    /// The CGI/1.1 environment httpd builds for this request (what mod_cgi
    /// passes), as byte pairs.
    pub fn cgi_environment(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        // SAFETY: these add to r->subprocess_env in the request pool.
        unsafe {
            b::ap_add_common_vars(self.r);
            b::ap_add_cgi_vars(self.r);
        }
        let mut env = Vec::new();
        table_for_each(self.r.subprocess_env, |k, v| {
            env.push((k.to_vec(), v.to_vec()))
        });
        env
    }

    /// The CGI environment as `cgi_environment` builds it, but without
    /// leaving it in the request: an authorizer-role program runs before the
    /// handler, whose own environment must not inherit these variables.
    pub fn cgi_environment_apart(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        // SAFETY: the copy lives in the request pool; restoring the pointer puts
        // back the table as it was before.
        let saved = unsafe { b::apr_table_copy(self.r.pool, self.r.subprocess_env) };
        let env = self.cgi_environment();
        self.r.subprocess_env = saved;
        env
    }

    /// The password of HTTP Basic credentials, or the status httpd gives
    /// when there are none (401, with the challenge noted).
    pub fn basic_auth_password(&mut self) -> Result<String, c_int> {
        let mut pw: *const c_char = std::ptr::null();
        // Without credentials httpd would ask mod_auth_basic to challenge the
        // client: answer that part ourselves.
        if self.header_in(c"Authorization").is_none() && self.uses_basic_auth() {
            self.challenge_basic();
            return Err(b::HTTP_UNAUTHORIZED as c_int);
        }
        // SAFETY: ap_get_basic_auth_pw sets `pw` to a request-pool string on OK.
        let rc = unsafe { b::ap_get_basic_auth_pw(self.r, &raw mut pw) };
        if rc != b::OK as c_int {
            return Err(rc);
        }
        Ok(c_str_opt(pw).unwrap_or("").to_string())
    }

    pub fn user(&self) -> Option<&str> {
        c_str_opt(self.r.user)
    }

    /// Is `AuthType Basic` in effect for this request?
    pub fn uses_basic_auth(&mut self) -> bool {
        // SAFETY: returns a string from the request's per-dir config, or null.
        c_str_opt(unsafe { b::ap_auth_type(self.r) })
            .is_some_and(|t| t.eq_ignore_ascii_case("basic"))
    }

    /// Asks the client for Basic credentials (`WWW-Authenticate`), when the
    /// directory uses `AuthType Basic` and nothing has asked yet. Set here,
    /// not through mod_auth_basic, which a FastCGI authenticator does not need.
    pub fn challenge_basic(&mut self) {
        if !self.uses_basic_auth() {
            return;
        }
        // SAFETY: returns a string from the request's per-dir config, or null.
        let realm = c_str_opt(unsafe { b::ap_auth_name(self.r) });
        // SAFETY: headers tables are live; values are copied into the request pool.
        unsafe {
            if !b::apr_table_get(self.r.err_headers_out, c"WWW-Authenticate".as_ptr()).is_null() {
                return;
            }
            let value = self.pool().strdup(&format!(
                "Basic realm=\"{}\"",
                realm.unwrap_or("").replace('"', "")
            ));
            b::apr_table_setn(self.r.err_headers_out, c"WWW-Authenticate".as_ptr(), value);
        }
    }

    /// A copy of the response headers and status as they are now, to put
    /// back after a sub-exchange (an authorizer's answer) has changed them.
    pub fn save_response(&self) -> SavedResponse {
        SavedResponse {
            // SAFETY: the copy lives in the request pool.
            headers: unsafe { b::apr_table_copy(self.r.pool, self.r.err_headers_out) },
            status: self.r.status,
        }
    }

    pub fn restore_response(&mut self, saved: SavedResponse) {
        self.r.err_headers_out = saved.headers;
        self.r.status = saved.status;
    }

    /// The response headers the CGI scanner kept (`err_headers_out`).
    pub fn response_headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        table_for_each(self.r.err_headers_out, |k, v| {
            out.push((
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            ))
        });
        out
    }

    /// Reads the whole request body (de-chunked), handing each piece to
    /// `sink`. Stops at the first `Err` of `sink` and returns it as
    /// `Err(Some(e))`; `Err(None)` is a client read failure.
    pub fn read_body<E>(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Option<E>> {
        // SAFETY: the client-block API reads the request body into our buffer,
        // never past the length we pass.
        unsafe {
            let rc = b::ap_setup_client_block(self.r, b::REQUEST_CHUNKED_DECHUNK as c_int);
            if rc != b::OK as c_int {
                return Err(None);
            }
            if b::ap_should_client_block(self.r) == 0 {
                return Ok(());
            }
            let mut buf = vec![0u8; 16384];
            loop {
                let n: c_long =
                    b::ap_get_client_block(self.r, buf.as_mut_ptr().cast::<c_char>(), buf.len());
                if n < 0 {
                    return Err(None);
                }
                if n == 0 {
                    return Ok(());
                }
                sink(&buf[..n as usize]).map_err(Some)?;
            }
        }
    }

    /// Parses CGI response headers with httpd's own scanner, reading lines
    /// from `next_line` (which returns `None` at end of input). Returns the
    /// scanner's status: OK, or an HTTP status such as 500 or 304.
    pub fn scan_cgi_headers(
        &mut self,
        next_line: &mut dyn FnMut(usize) -> Option<Vec<u8>>,
    ) -> c_int {
        struct Source<'f> {
            next_line: &'f mut dyn FnMut(usize) -> Option<Vec<u8>>,
        }
        extern "C" fn gets(buf: *mut c_char, len: c_int, data: *mut c_void) -> c_int {
            super::guard::guard("CGI header read", 0, || {
                // SAFETY: `data` is the Source below, alive for the scanner call;
                // httpd's buffer holds `len` bytes.
                let src = unsafe { &mut *data.cast::<Source>() };
                let room = (len.max(1) - 1) as usize;
                match (src.next_line)(room) {
                    None => 0,
                    Some(line) => {
                        let n = line.len().min(room);
                        // SAFETY: n < len, so the copy and its NUL fit in buf.
                        unsafe {
                            std::ptr::copy_nonoverlapping(line.as_ptr(), buf.cast::<u8>(), n);
                            *buf.add(n) = 0;
                        }
                        1
                    }
                }
            })
        }
        let mut src = Source { next_line };
        // MAX_STRING_LEN (a macro bindgen cannot evaluate) is 8192.
        let mut err_buf = [0 as c_char; 8192];
        // SAFETY: `gets` only runs during this call, while `src` is alive.
        unsafe {
            b::ap_scan_script_header_err_core_ex(
                self.r,
                err_buf.as_mut_ptr(),
                Some(gets),
                (&raw mut src).cast::<c_void>(),
                super::log::module_index(),
            )
        }
    }

    pub fn status(&self) -> c_int {
        self.r.status
    }

    pub fn set_status(&mut self, status: c_int) {
        self.r.status = status;
    }

    pub fn header_only(&self) -> bool {
        self.r.header_only != 0
    }

    pub fn location_out(&self) -> Option<String> {
        // SAFETY: headers_out is a live table.
        c_str_opt(unsafe { b::apr_table_get(self.r.headers_out, c"Location".as_ptr()) })
            .map(str::to_string)
    }

    /// mod_cgi's rule for `Location: /local` with status 200: redo the request
    /// as a GET for that path.
    pub fn internal_redirect_as_get(&mut self, location: &str) {
        let pool = self.pool();
        let loc = pool.strdup(location);
        // SAFETY: the method string is static; `loc` lives in the request pool.
        unsafe {
            self.r.method = c"GET".as_ptr();
            self.r.method_number = b::M_GET as c_int;
            b::apr_table_unset(self.r.headers_in, c"Content-Length".as_ptr());
            b::ap_internal_redirect_handler(loc, self.r);
        }
    }

    pub fn output(&mut self) -> super::output::Output {
        // SAFETY: the request and its connection outlive the Output, which is
        // used only inside this request's handler.
        unsafe { super::output::Output::new(self.r) }
    }

    /// Writes bytes straight to the response (for handlers that print, such
    /// as mod_status's hooks).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        // SAFETY: ap_rwrite copies `bytes` into the response.
        unsafe {
            b::ap_rwrite(
                bytes.as_ptr().cast::<c_void>(),
                bytes.len() as c_int,
                self.r,
            )
        };
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        let pool = self.pool();
        // SAFETY: both strings are copied into the request pool first.
        unsafe { b::apr_table_setn(self.r.subprocess_env, pool.strdup(name), pool.strdup(value)) }
    }
}
