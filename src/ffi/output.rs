//! Writes a response body to httpd's output filters through a brigade:
//! chunks of an app's answer as they were read (`answer_buf`), no copy.

use super::bindings as b;

pub struct Output {
    r: *mut b::request_rec,
    bb: *mut b::apr_bucket_brigade,
    /// Has anything been passed to the filters (so the headers are out)?
    passed: bool,
}

/// The client went away or a filter failed; the rest of the body is dropped.
#[derive(Debug)]
pub struct OutputFailed(pub b::apr_status_t);

impl Output {
    /// # Safety
    /// `r` must be a live request_rec that outlives the Output.
    pub(super) unsafe fn new(r: *mut b::request_rec) -> Output {
        // SAFETY: `r` is live (caller's contract); its pool and connection
        // allocator outlive the brigade created from them.
        let bb = unsafe { b::apr_brigade_create((*r).pool, (*(*r).connection).bucket_alloc) };
        Output {
            r,
            bb,
            passed: false,
        }
    }

    /// Queues a chunk of an app's answer for the client: its bucket moves
    /// into our brigade, no byte is copied.
    pub fn append(&mut self, chunk: super::answer_buf::Chunk) {
        // SAFETY: the chunk's bucket is in no brigade and comes from our
        // connection's allocator; the brigade owns it from here.
        unsafe { b::fcgid_shim_brigade_insert_tail(self.bb, chunk.into_bucket()) };
    }

    /// Passes what is queued on to the output filters, without a FLUSH:
    /// httpd writes it when it sees fit.
    pub fn pass_on(&mut self) -> Result<(), OutputFailed> {
        self.pass()
    }

    /// Sends what is queued, with a FLUSH so it reaches the client now.
    pub fn flush(&mut self) -> Result<(), OutputFailed> {
        // SAFETY: the bucket is created from our connection's allocator and handed
        // to our brigade, which ap_pass_brigade then consumes.
        unsafe {
            let alloc = (*(*self.r).connection).bucket_alloc;
            b::fcgid_shim_brigade_insert_tail(self.bb, b::apr_bucket_flush_create(alloc));
        }
        self.pass()
    }

    /// Sends what is queued plus end-of-stream.
    pub fn finish(&mut self) -> Result<(), OutputFailed> {
        // SAFETY: as in `flush`.
        unsafe {
            let alloc = (*(*self.r).connection).bucket_alloc;
            b::fcgid_shim_brigade_insert_tail(self.bb, b::apr_bucket_eos_create(alloc));
        }
        self.pass()
    }

    /// Ends a response cut short after its headers were sent: an error
    /// bucket makes httpd close the connection instead of ending the body
    /// normally, so the client can tell the response is incomplete.
    pub fn abort(&mut self, status: std::os::raw::c_int) {
        // SAFETY: buckets from our connection's allocator, for our brigade; the
        // connection record is live for the request.
        unsafe {
            let c = (*self.r).connection;
            (*c).keepalive = b::ap_conn_keepalive_e_AP_CONN_CLOSE;
            let alloc = (*c).bucket_alloc;
            let err = b::ap_bucket_error_create(status, std::ptr::null(), (*self.r).pool, alloc);
            b::fcgid_shim_brigade_insert_tail(self.bb, err);
            b::fcgid_shim_brigade_insert_tail(self.bb, b::apr_bucket_eos_create(alloc));
        }
        let _ = self.pass();
    }

    pub fn sent_anything(&self) -> bool {
        self.passed
    }

    /// Drops what is queued, unsent (httpd will send an error page instead).
    pub fn discard(&mut self) {
        // SAFETY: the brigade is ours.
        unsafe { b::apr_brigade_cleanup(self.bb.cast::<std::ffi::c_void>()) };
    }

    fn pass(&mut self) -> Result<(), OutputFailed> {
        self.passed = true;
        // SAFETY: r->output_filters is the request's filter chain.
        let rv = unsafe { b::ap_pass_brigade((*self.r).output_filters, self.bb) };
        // SAFETY: the brigade is ours; cleanup empties it for reuse.
        unsafe { b::apr_brigade_cleanup(self.bb.cast::<std::ffi::c_void>()) };
        if rv != 0 {
            return Err(OutputFailed(rv));
        }
        Ok(())
    }
}
