//! What crosses the httpd boundary as bytes: file names and URLs that are
//! not UTF-8 are served as they are, never as an empty file name.

mod common;
use common::{Httpd, Mpm};
use std::os::unix::ffi::OsStrExt;

#[test]
fn a_script_whose_name_is_not_utf8_is_served() {
    let httpd = Httpd::new("non-utf8", Mpm::Event, &["hello"], "");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.fcgi");
    std::fs::rename(httpd.www().join("hello.fcgi"), httpd.www().join(name)).unwrap();
    let httpd = httpd.start();
    for _ in 0..2 {
        let r = httpd.get("/caf%E9.fcgi");
        assert_eq!(r.status, 200, "{}\n{}", r.text(), httpd.error_log());
        assert!(r.text().contains("Hello world!"), "{}", r.text());
    }
    assert!(
        !httpd.error_log().contains("mod_fcgid: cannot start"),
        "{}",
        httpd.error_log()
    );
}
