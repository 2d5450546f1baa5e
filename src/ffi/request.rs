//! A safe view of one `request_rec` for the request bridge.

use super::bindings as b;
use super::log::{Level, RequestLog};
use super::pool::Pool;
use crate::config::{DirConfig, ServerConfig};
use std::borrow::Cow;
use std::ffi::{c_void, CStr, OsStr};
use std::mem::MaybeUninit;
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;

/// A CGI environment: names and values, borrowed from the request pool
/// where httpd made them (`bridge::env::Env` is the same type).
pub type CgiEnv<'a> = Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>;

/// The virtual host a request is for: its ServerName and port, borrowed
/// (compared on every request, written out only when a class is built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhostId<'a> {
    pub name: &'a str,
    pub port: u16,
}

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

/// See `Request::client_connection`.
#[derive(Clone, Copy)]
pub struct ClientConnection {
    pub id: i64,
    pub pool: Pool,
    pub persists: bool,
}

pub struct Request<'a> {
    r: &'a mut b::request_rec,
}

/// A request string as bytes.
///
/// # Safety
/// `p` is null or a NUL-terminated string that lives, unchanged, for 's
/// (callers tie 's to their borrow of the request, whose pool holds it).
unsafe fn c_bytes_opt<'s>(p: *const c_char) -> Option<&'s [u8]> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// The same, when only UTF-8 makes sense (header values, auth names).
///
/// # Safety
/// As for `c_bytes_opt`.
unsafe fn c_str_opt<'s>(p: *const c_char) -> Option<&'s str> {
    // SAFETY: the caller's contract.
    unsafe { c_bytes_opt(p) }.and_then(|b| std::str::from_utf8(b).ok())
}

/// Calls `f` for every entry of an APR table.
///
/// # Safety
/// `t` is null or a live table, not changed during the call.
unsafe fn table_for_each(t: *const b::apr_table_t, f: impl FnMut(&[u8], &[u8])) {
    // SAFETY: the caller's contract; the strings are only lent to `f`.
    unsafe { table_for_each_pooled(t, f) }
}

/// Entries in a table (removed ones included).
///
/// # Safety
/// `t` is null or a live table.
unsafe fn table_len(t: *const b::apr_table_t) -> usize {
    if t.is_null() {
        return 0;
    }
    // SAFETY: a live table's array header.
    unsafe { (*b::fcgid_shim_table_elts(t)).nelts.max(0) as usize }
}

/// `table_for_each` with the strings for the lifetime `'p`.
///
/// # Safety
/// As `table_for_each`, and the table's strings live for `'p` (they are
/// in a pool that outlives it).
unsafe fn table_for_each_pooled<'p>(
    t: *const b::apr_table_t,
    mut f: impl FnMut(&'p [u8], &'p [u8]),
) {
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

/// Hands the data of `bb`'s buckets to `sink`, in order; true once an
/// end-of-stream bucket is seen. `Err(None)`: a bucket could not be read.
///
/// # Safety
/// `bb` is a live brigade, not changed during the call.
unsafe fn take_body_buckets<E>(
    bb: *mut b::apr_bucket_brigade,
    sink: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<bool, Option<E>> {
    // SAFETY: the caller's contract; bucket data is only lent to `sink`
    // while the bucket lives.
    unsafe {
        let end = b::fcgid_shim_brigade_sentinel(bb);
        let mut e = b::fcgid_shim_brigade_first(bb);
        while e != end {
            if b::fcgid_shim_bucket_is_eos(e) != 0 {
                return Ok(true);
            }
            let mut data: *const c_char = std::ptr::null();
            let mut len: b::apr_size_t = 0;
            if b::fcgid_shim_bucket_read(e, &raw mut data, &raw mut len) != 0 {
                return Err(None);
            }
            if len > 0 {
                sink(std::slice::from_raw_parts(data.cast::<u8>(), len)).map_err(Some)?;
            }
            e = b::fcgid_shim_bucket_next(e);
        }
        Ok(false)
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

    fn as_ptr(&self) -> *const b::request_rec {
        std::ptr::from_ref::<b::request_rec>(self.r)
    }

    /// The config of the request's (virtual) server, shared with every
    /// other request thread; it lives in pconf, longer than the request.
    pub fn server_config(&self) -> &'a ServerConfig {
        // SAFETY: r->server is set for every request and lives in pconf.
        let s: &'a b::server_rec = unsafe { &*self.r.server };
        super::directives::server_config(s)
    }

    /// The merged directory config of the request.
    pub fn dir_config(&self) -> &'a DirConfig {
        // SAFETY: r->per_dir_config is set before any hook we serve runs, and
        // the vector (in the request or config pool) outlives the request.
        let v: &'a b::ap_conf_vector_t = unsafe { &*self.r.per_dir_config };
        super::directives::dir_config(v)
    }

    pub fn pool(&self) -> Pool {
        // SAFETY: the request pool lives as long as the request.
        unsafe { Pool::from_raw(self.r.pool) }
    }

    pub fn handler(&self) -> Option<&str> {
        // SAFETY: a request-pool string, borrowed with `self`.
        unsafe { c_str_opt(self.r.handler) }
    }

    /// The file the request maps to: any bytes, as file names are.
    pub fn filename(&self) -> Option<&OsStr> {
        // SAFETY: a request-pool string, borrowed with `self`.
        unsafe { c_bytes_opt(self.r.filename) }.map(OsStr::from_bytes)
    }

    /// The same for as long as the request lives, so a handler may keep it
    /// while it changes the request (no copy on every request).
    pub fn filename_pooled(&self) -> Option<&'a OsStr> {
        // SAFETY: r->filename points into the request pool, which lives for
        // 'a; pool strings are never freed or written over before the pool
        // goes (setting r->filename later points it elsewhere, it does not
        // change this string).
        unsafe { c_bytes_opt(self.r.filename) }.map(OsStr::from_bytes)
    }

    /// The decoded path of the URL (`%E9` is byte 0xE9): any bytes.
    pub fn uri(&self) -> Option<&[u8]> {
        // SAFETY: a request-pool string, borrowed with `self`.
        unsafe { c_bytes_opt(self.r.uri) }
    }

    /// The request's method as the client sent it (`r->method`).
    pub fn method(&self) -> &[u8] {
        // SAFETY: a request-pool string (or a static one), borrowed with `self`.
        unsafe { c_bytes_opt(self.r.method) }.unwrap_or_default()
    }

    /// The URL as the client sent it, path and query (`r->unparsed_uri`).
    pub fn unparsed_uri(&self) -> &[u8] {
        // SAFETY: a request-pool string, borrowed with `self`.
        unsafe { c_bytes_opt(self.r.unparsed_uri) }.unwrap_or_default()
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

    /// Has the request's file an execute bit for anyone, as httpd's own
    /// stat of it (`r->finfo`) says? None when httpd did not get its mode.
    pub fn file_executable(&self) -> Option<bool> {
        let f = &self.r.finfo;
        let prot = b::APR_FINFO_PROT as i32;
        if f.filetype != b::apr_filetype_e_APR_REG || f.valid & prot != prot {
            return None;
        }
        let any = (b::APR_UEXECUTE | b::APR_GEXECUTE | b::APR_WEXECUTE) as i32;
        Some(f.protection & any != 0)
    }

    pub fn allows_exec_cgi(&mut self) -> bool {
        // SAFETY: ap_allow_options only reads the request's per-dir core config.
        (unsafe { b::ap_allow_options(self.r) } & b::OPT_EXECCGI as c_int) != 0
    }

    /// Did mod_alias's `ScriptAlias` map this request? (It leaves the note
    /// `alias-forced-type`; mod_cgi, and C mod_fcgid, then need no ExecCGI.)
    pub fn is_scriptaliased(&self) -> bool {
        // SAFETY: notes is a live table; the value lives in the request pool,
        // borrowed with `self`.
        unsafe {
            c_str_opt(b::apr_table_get(
                self.r.notes,
                c"alias-forced-type".as_ptr(),
            ))
        }
        .is_some_and(|t| t.eq_ignore_ascii_case("cgi-script"))
    }

    /// `AcceptPathInfo Off` is in effect and the URI has a path after the
    /// script's name.
    pub fn rejects_path_info(&self) -> bool {
        self.r.used_path_info == b::AP_REQ_REJECT_PATH_INFO as c_int
            && !self.r.path_info.is_null()
            // SAFETY: a non-null path_info is a NUL-terminated request-pool string.
            && unsafe { *self.r.path_info } != 0
    }

    /// `LimitRequestBody` for this request, in bytes (0: no limit).
    pub fn limit_req_body(&self) -> u64 {
        // SAFETY: reads the request's per-dir core config.
        unsafe { b::ap_get_limit_req_body(self.r) }.max(0) as u64
    }

    /// The body length the client declared: Content-Length, when there is
    /// no Transfer-Encoding (which httpd lets win).
    pub fn declared_length(&self) -> Option<u64> {
        if self.header_in(c"Transfer-Encoding").is_some() {
            return None;
        }
        self.header_in(c"Content-Length")?.trim().parse().ok()
    }

    /// A name for the virtual host, part of a process class's identity.
    pub fn vhost_id(&self) -> VhostId<'a> {
        // SAFETY: r->server is always set for a request; its hostname is a
        // pconf string, alive longer than the request ('a).
        let s: &'a b::server_rec = unsafe { &*self.r.server };
        // SAFETY: as above.
        let name = unsafe { c_str_opt(s.server_hostname) }.unwrap_or("");
        VhostId { name, port: s.port }
    }

    /// The user and group this request's apps run as through suexec
    /// (`SuexecUserGroup`, through `ap_run_get_suexec_identity`), when httpd's
    /// suexec is enabled; None otherwise (they run as the httpd User).
    pub fn suexec_identity(&self) -> Option<(u32, u32)> {
        if !super::process::suexec_enabled() {
            return None;
        }
        // SAFETY: r is the live request; the hook returns null or an
        // identity in a pool that outlives the request, read at once.
        unsafe {
            let id = b::ap_run_get_suexec_identity(&raw const *self.r);
            (!id.is_null()).then(|| ((*id).uid, (*id).gid))
        }
    }

    pub fn log(&self, level: Level, msg: &str) {
        self.log_handle().log(level, msg);
    }

    /// Where this request logs, for code that logs while the request is
    /// borrowed elsewhere (the app's stderr lines, mid-exchange).
    pub fn log_handle(&self) -> RequestLog<'a> {
        // SAFETY: the request_rec lives for 'a.
        unsafe { RequestLog::new(self.as_ptr()) }
    }

    /// The client's connection: its id, its pool, and whether it is likely
    /// to carry another request after this one, as far as can be told
    /// before the answer is sent (KeepAlive on, MaxKeepAliveRequests not
    /// reached, the client did not ask to close, and it has sent more than
    /// one request on it already).
    pub fn client_connection(&self) -> ClientConnection {
        // SAFETY: r->connection and r->server are set for every request and
        // outlive it; the connection pool lives as long as the connection.
        let (c, srv) = unsafe { (&*self.r.connection, &*self.r.server) };
        let asked = self.header_in_bytes(c"Connection").unwrap_or(b"");
        let has = |token: &[u8]| {
            asked
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        };
        let wants = if self.r.proto_num >= 1001 {
            !has(b"close")
        } else {
            has(b"keep-alive")
        };
        let room = srv.keep_alive_max <= 0 || c.keepalives + 1 < srv.keep_alive_max;
        // A connection that has carried one request already: clients that
        // send one request per connection, HTTP/1.1 or not, are most.
        let reused = c.keepalives > 0;
        ClientConnection {
            // Not `c->id`: mpm_event derives it from the worker thread that
            // accepted the connection, so two open keep-alive connections
            // can share one. The conn_rec's address is unique among open
            // connections, and its pool's cleanups run before it is reused.
            id: std::ptr::from_ref(c) as i64,
            // SAFETY: as above.
            pool: unsafe { Pool::from_raw(c.pool) },
            persists: srv.keep_alive != 0 && room && wants && reused,
        }
    }

    pub fn client_aborted(&self) -> bool {
        // SAFETY: r->connection is always set for a request.
        unsafe { (*self.r.connection).aborted != 0 }
    }

    pub fn header_in(&self, name: &CStr) -> Option<&str> {
        // SAFETY: headers_in is a live table; the value lives in the request
        // pool, borrowed with `self`.
        unsafe { c_str_opt(b::apr_table_get(self.r.headers_in, name.as_ptr())) }
    }

    /// A request header's value as bytes (header values need not be UTF-8).
    pub fn header_in_bytes(&self, name: &CStr) -> Option<&[u8]> {
        // SAFETY: as for `header_in`.
        unsafe { c_bytes_opt(b::apr_table_get(self.r.headers_in, name.as_ptr())) }
    }

    /// The CGI/1.1 environment httpd builds for this request (what mod_cgi
    /// passes), as byte pairs borrowed from the request pool.
    pub fn cgi_environment(&mut self) -> CgiEnv<'a> {
        // SAFETY: these add to r->subprocess_env in the request pool.
        unsafe {
            b::ap_add_common_vars(self.r);
            b::ap_add_cgi_vars(self.r);
        }
        let t = self.r.subprocess_env;
        // SAFETY: subprocess_env is the request's live table.
        // Room for the few the bridge adds (CONTENT_LENGTH, HTTP_CONNECTION,
        // TZ): no second allocation on every request.
        let mut env = Vec::with_capacity(unsafe { table_len(t) } + 4);
        // SAFETY: the table's keys and values are strings in the request
        // pool, which lives as long as the request ('a) whatever later
        // changes to the table do (apr_table_set points an entry elsewhere,
        // it never frees a string).
        unsafe { table_for_each_pooled::<'a>(t, |k, v| env.push((k.into(), v.into()))) };
        env
    }

    /// The CGI environment as `cgi_environment` builds it, but without
    /// leaving it in the request: an authorizer-role program runs before the
    /// handler, whose own environment must not inherit these variables.
    pub fn cgi_environment_apart(&mut self) -> CgiEnv<'a> {
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
        // SAFETY: null or a request-pool string, copied at once.
        Ok(unsafe { c_str_opt(pw) }.unwrap_or("").to_string())
    }

    pub fn user(&self) -> Option<&str> {
        // SAFETY: a request-pool string, borrowed with `self`.
        unsafe { c_str_opt(self.r.user) }
    }

    /// Is `AuthType Basic` in effect for this request?
    pub fn uses_basic_auth(&mut self) -> bool {
        // SAFETY: returns a string from the request's per-dir config, or
        // null; it is used before this call returns.
        unsafe { c_str_opt(b::ap_auth_type(self.r)) }
            .is_some_and(|t| t.eq_ignore_ascii_case("basic"))
    }

    /// Asks the client for Basic credentials (`WWW-Authenticate`), when the
    /// directory uses `AuthType Basic` and nothing has asked yet. Set here,
    /// not through mod_auth_basic, which a FastCGI authenticator does not need.
    pub fn challenge_basic(&mut self) {
        if !self.uses_basic_auth() {
            return;
        }
        // SAFETY: returns a string from the request's per-dir config, or
        // null; it is copied below, before the request changes.
        let realm = unsafe { c_str_opt(b::ap_auth_name(self.r)) };
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
        // SAFETY: err_headers_out is the request's live table.
        unsafe {
            table_for_each(self.r.err_headers_out, |k, v| {
                out.push((
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ))
            })
        };
        out
    }

    /// Reads the whole request body (de-chunked), handing each piece to
    /// `sink`. Stops at the first `Err` of `sink` and returns it as
    /// `Err(Some(e))`; `Err(None)` is a client read failure.
    ///
    /// The pieces are the input filters' buckets, lent as they are: no
    /// copy into a buffer of ours on the way (mod_cgi reads the same way).
    pub fn read_body<E>(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Option<E>> {
        /// Bytes asked of the input filters at a time.
        const READ_BYTES: b::apr_off_t = 64 * 1024;
        // SAFETY: the brigade lives in the request pool, on the connection's
        // allocator; ap_get_brigade fills it, we only read its buckets, and
        // cleanup destroys them before the next read and at the end.
        unsafe {
            let rc = b::ap_setup_client_block(self.r, b::REQUEST_CHUNKED_DECHUNK as c_int);
            if rc != b::OK as c_int {
                return Err(None);
            }
            if b::ap_should_client_block(self.r) == 0 {
                return Ok(());
            }
            let bb = b::apr_brigade_create(self.r.pool, (*self.r.connection).bucket_alloc);
            let result = loop {
                let rv = b::ap_get_brigade(
                    self.r.input_filters,
                    bb,
                    b::ap_input_mode_t_AP_MODE_READBYTES,
                    b::apr_read_type_e_APR_BLOCK_READ,
                    READ_BYTES,
                );
                if rv != 0 {
                    break Err(None);
                }
                match take_body_buckets(bb, &mut sink) {
                    Ok(false) => {}
                    Ok(true) => break Ok(()),
                    Err(e) => break Err(e),
                }
                b::apr_brigade_cleanup(bb.cast::<c_void>());
            };
            b::apr_brigade_cleanup(bb.cast::<c_void>());
            result
        }
    }

    /// Parses CGI response headers with httpd's own scanner, reading lines
    /// from `next_line`, which copies the next one into the room it is given
    /// and says its length (`None` at end of input). Returns the scanner's
    /// status: OK, or an HTTP status such as 500 or 304.
    pub fn scan_cgi_headers(
        &mut self,
        next_line: &mut dyn FnMut(&mut [MaybeUninit<u8>]) -> Option<usize>,
    ) -> c_int {
        struct Source<'f> {
            next_line: &'f mut dyn FnMut(&mut [MaybeUninit<u8>]) -> Option<usize>,
        }
        extern "C" fn gets(buf: *mut c_char, len: c_int, data: *mut c_void) -> c_int {
            super::guard::guard("CGI header read", 0, || {
                // SAFETY: `data` is the Source below, alive for the scanner call.
                let src = unsafe { &mut *data.cast::<Source>() };
                let room = (len.max(1) - 1) as usize;
                // SAFETY: httpd's buffer holds `len` bytes, not necessarily
                // initialised (hence MaybeUninit); the line goes into the
                // first `room` and its NUL after it.
                let out =
                    unsafe { std::slice::from_raw_parts_mut(buf.cast::<MaybeUninit<u8>>(), room) };
                match (src.next_line)(out) {
                    None => 0,
                    Some(n) => {
                        // SAFETY: n <= room < len: the NUL fits in buf.
                        unsafe { *buf.add(n.min(room)) = 0 };
                        1
                    }
                }
            })
        }
        let mut src = Source { next_line };
        // MAX_STRING_LEN (a macro bindgen cannot evaluate) is 8192. Not
        // zeroed: httpd NUL-terminates it first thing, then only writes it.
        let mut err_buf = std::mem::MaybeUninit::<[c_char; 8192]>::uninit();
        // SAFETY: `gets` only runs during this call, while `src` is alive;
        // the scanner writes `err_buf` (starting with a NUL) before reading it.
        unsafe {
            b::ap_scan_script_header_err_core_ex(
                self.r,
                err_buf.as_mut_ptr().cast::<c_char>(),
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
        // SAFETY: headers_out is a live table; the value is copied at once.
        unsafe { c_str_opt(b::apr_table_get(self.r.headers_out, c"Location".as_ptr())) }
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

    /// The connection's bucket allocator, for buffers an app's answer is
    /// read into (see `answer_buf`).
    pub fn bucket_alloc(&self) -> super::answer_buf::BucketAlloc {
        // SAFETY: r->connection is always set; its allocator lives as long
        // as the connection, longer than the request.
        super::answer_buf::BucketAlloc(unsafe { (*self.r.connection).bucket_alloc })
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

    /// Sets a variable of the request's environment (any bytes; copied).
    pub fn set_env_bytes(&mut self, name: &[u8], value: &[u8]) {
        let pool = self.pool().as_ptr();
        // SAFETY: apr_pstrmemdup copies each slice into the request pool,
        // NUL-terminated; apr_table_setn keeps those copies.
        unsafe {
            let k = b::apr_pstrmemdup(pool, name.as_ptr().cast(), name.len());
            let v = b::apr_pstrmemdup(pool, value.as_ptr().cast(), value.len());
            b::apr_table_setn(self.r.subprocess_env, k, v);
        }
    }

    /// Removes a variable from the request's environment.
    pub fn unset_env(&mut self, name: &[u8]) {
        let pool = self.pool().as_ptr();
        // SAFETY: the name is copied into the request pool, NUL-terminated,
        // and only read by apr_table_unset.
        unsafe {
            let k = b::apr_pstrmemdup(pool, name.as_ptr().cast(), name.len());
            b::apr_table_unset(self.r.subprocess_env, k);
        }
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        let pool = self.pool();
        // SAFETY: both strings are copied into the request pool first.
        unsafe { b::apr_table_setn(self.r.subprocess_env, pool.strdup(name), pool.strdup(value)) }
    }

    /// Sets request note `name` (for `%{name}n` in a LogFormat).
    pub fn set_note(&mut self, name: &'static CStr, value: &str) {
        let pool = self.pool();
        // SAFETY: the name is static, the value is copied into the request
        // pool first.
        unsafe { b::apr_table_setn(self.r.notes, name.as_ptr(), pool.strdup(value)) }
    }

    /// Request note `name`, if set.
    pub fn note(&self, name: &CStr) -> Option<&str> {
        // SAFETY: notes is a live table; the value lives in the request
        // pool, borrowed with `self`.
        unsafe { c_str_opt(b::apr_table_get(self.r.notes, name.as_ptr())) }
    }
}
