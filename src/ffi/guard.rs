//! The panic boundary: every function httpd calls runs inside `guard`, so a
//! Rust panic becomes an error status and one error-log line, never an unwind
//! into C.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Replaces the default hook (which writes to stderr) with one that keeps the
/// message for `guard` to log through httpd.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = match info.location() {
                Some(loc) => format!("{info} at {}:{}", loc.file(), loc.line()),
                None => info.to_string(),
            };
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(msg));
        }));
    });
}

/// Runs `f`; if it panics, logs the panic against the main server and returns
/// `on_panic` instead.
pub fn guard<T>(entry: &str, on_panic: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            let msg = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".to_string());
            super::log::main_server(
                super::log::Level::Err,
                &format!("mod_fcgid: internal error in {entry}: {msg}"),
            );
            on_panic
        }
    }
}
