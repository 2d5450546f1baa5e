//! The requests of the differential suite. Each case is sent, byte for
//! byte, to both servers.

use super::client::Request;

pub struct Case {
    pub name: &'static str,
    method: &'static str,
    target: Vec<u8>,
    version: &'static str,
    host: Option<&'static str>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    /// Send the body in chunks of this size (Transfer-Encoding: chunked).
    chunked: Option<usize>,
    /// Send the body as is, framing included in `headers` by the case.
    raw_body: bool,
    expect: bool,
    /// To the virtual host's port.
    pub vhost: bool,
}

impl Case {
    fn new(name: &'static str, method: &'static str, target: impl AsRef<[u8]>) -> Case {
        Case {
            name,
            method,
            target: target.as_ref().to_vec(),
            version: "HTTP/1.1",
            host: Some("localhost"),
            headers: Vec::new(),
            body: Vec::new(),
            chunked: None,
            raw_body: false,
            expect: false,
            vhost: false,
        }
    }

    fn header(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Case {
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }

    fn body(mut self, body: impl AsRef<[u8]>) -> Case {
        self.body = body.as_ref().to_vec();
        self
    }

    fn chunked(mut self, size: usize) -> Case {
        self.chunked = Some(size);
        self
    }

    /// The body bytes exactly as given, with no Content-Length added.
    fn raw_body(mut self, body: impl AsRef<[u8]>) -> Case {
        self.body = body.as_ref().to_vec();
        self.raw_body = true;
        self
    }

    fn expect_continue(mut self) -> Case {
        self.expect = true;
        self
    }

    fn http10(mut self) -> Case {
        self.version = "HTTP/1.0";
        self.host = None;
        self
    }

    fn host(mut self, host: &'static str) -> Case {
        self.host = Some(host);
        self
    }

    fn vhost(mut self) -> Case {
        self.vhost = true;
        self.host = Some("vh.example");
        self
    }

    pub fn request(&self) -> Request {
        let mut head = Vec::new();
        head.extend_from_slice(self.method.as_bytes());
        head.push(b' ');
        head.extend_from_slice(&self.target);
        head.push(b' ');
        head.extend_from_slice(self.version.as_bytes());
        head.extend_from_slice(b"\r\n");
        if let Some(h) = self.host {
            head.extend_from_slice(format!("Host: {h}\r\n").as_bytes());
        }
        for (k, v) in &self.headers {
            head.extend_from_slice(k.as_bytes());
            head.extend_from_slice(b": ");
            head.extend_from_slice(v);
            head.extend_from_slice(b"\r\n");
        }
        let mut body = self.body.clone();
        if self.raw_body {
        } else if let Some(size) = self.chunked {
            head.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
            let mut framed = Vec::new();
            for piece in self.body.chunks(size.max(1)) {
                framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                framed.extend_from_slice(piece);
                framed.extend_from_slice(b"\r\n");
            }
            framed.extend_from_slice(b"0\r\n\r\n");
            body = framed;
        } else if !self.body.is_empty() {
            head.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        if self.expect {
            head.extend_from_slice(b"Expect: 100-continue\r\n");
        }
        head.extend_from_slice(b"\r\n");
        Request {
            head,
            body,
            wait_continue: self.expect,
            head_only: self.method == "HEAD",
        }
    }
}

fn get(name: &'static str, target: impl AsRef<[u8]>) -> Case {
    Case::new(name, "GET", target)
}

fn post(name: &'static str, target: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> Case {
    Case::new(name, "POST", target)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
}

/// `n` bytes of a repeating pattern that is not all text.
fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

const APP: &str = "/diffenv.fcgi";

pub fn all() -> Vec<Case> {
    let q = |query: &str| format!("{APP}?{query}");
    vec![
        // Methods and HEAD.
        get("get", APP),
        get("get_http10", APP).http10(),
        get("get_keepalive", APP).header("Connection", "keep-alive"),
        get("get_connection_close", APP).header("Connection", "close"),
        Case::new("head", "HEAD", APP),
        Case::new("head_query", "HEAD", q("a=1")),
        post("post_form", APP, "a=1&b=two"),
        Case::new("put", "PUT", APP)
            .header("Content-Type", "text/plain")
            .body("put body\n"),
        Case::new("delete", "DELETE", APP),
        Case::new("options", "OPTIONS", APP),
        Case::new("patch", "PATCH", APP)
            .body("{\"a\":1}")
            .header("Content-Type", "application/json"),
        Case::new("extension_method", "BREW", APP),
        Case::new("get_with_body", "GET", APP).body("a body on a GET"),
        Case::new("options_star", "OPTIONS", "*"),
        // Bodies of many sizes, chunked, Expect: 100-continue.
        Case::new("post_empty_length", "POST", APP).header("Content-Length", "0"),
        Case::new("post_no_length", "POST", APP),
        post("body_1", APP, "x"),
        post("body_1000", APP, bytes(1000)),
        post("body_16384", APP, bytes(16384)),
        post("body_65535", APP, bytes(65535)),
        post("body_65536", APP, bytes(65536)),
        post("body_65537_spooled", APP, bytes(65537)),
        post("body_131072_limit", APP, bytes(131072)),
        post("body_131073_oversized", APP, bytes(131073)),
        post("body_1mb_oversized", APP, bytes(1 << 20)),
        post("body_binary_nul", APP, b"a\0b\0\r\n\xff\xfe"),
        Case::new("body_multipart", "POST", APP)
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .body(
                "--XyZ\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nvalue\r\n--XyZ--\r\n",
            ),
        post("chunked_small", APP, "hello chunked world").chunked(5),
        Case::new("chunked_empty", "POST", APP)
            .header("Transfer-Encoding", "chunked")
            .raw_body("0\r\n\r\n"),
        post("chunked_100000_spooled", APP, bytes(100_000)).chunked(8000),
        post("chunked_200000_oversized", APP, bytes(200_000)).chunked(8000),
        Case::new("chunked_trailer", "POST", APP)
            .header("Transfer-Encoding", "chunked")
            .header("Trailer", "X-Sum")
            .raw_body("3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n"),
        Case::new("chunked_and_length", "POST", APP)
            .header("Transfer-Encoding", "chunked")
            .header("Content-Length", "100")
            .raw_body("3\r\nabc\r\n0\r\n\r\n"),
        post("expect_small", APP, "expected body").expect_continue(),
        post("expect_100000", APP, bytes(100_000)).expect_continue(),
        post("expect_oversized", APP, bytes(200_000)).expect_continue(),
        post("expect_chunked", APP, "chunked after continue")
            .chunked(4)
            .expect_continue(),
        // PATH_INFO and query strings.
        get("query", q("a=1&b=2")),
        get("query_empty", format!("{APP}?")),
        get("query_encoded", q("q=%20x%2Fy%26z&u=%C3%A9")),
        get("query_plus_words", q("foo+bar+baz")),
        get("query_long", q(&"k=v&".repeat(1000))),
        get("path_info", format!("{APP}/extra/path")),
        get("path_info_slash", format!("{APP}/")),
        get("path_info_encoded", format!("{APP}/a%20b/c%3Bd")),
        get("path_info_encoded_slash", format!("{APP}/a%2Fb")),
        get("path_info_query", format!("{APP}/p/q?x=1")),
        get("path_double_slash", format!("/{APP}")),
        get("path_dot_segments", format!("/noexec/..{APP}")),
        get("absolute_uri", format!("http://localhost{APP}?abs=1")),
        // Request headers.
        get("headers_many", APP)
            .header("X-One", "1")
            .header("X-Two", "two")
            .header("Accept", "text/html, */*;q=0.1")
            .header("Accept-Language", "fr, en;q=0.5")
            .header("User-Agent", "differential/1.0")
            .header("Referer", "http://example.com/from")
            .header("Cookie", "a=1; b=2"),
        get("header_repeated", APP)
            .header("X-Rep", "one")
            .header("X-Rep", "two"),
        get("header_underscore", APP).header("X_Under", "dropped by httpd"),
        get("header_proxy_httpoxy", APP).header("Proxy", "http://evil:8080"),
        get("header_hop_by_hop", APP)
            .header("TE", "trailers")
            .header("Keep-Alive", "timeout=5")
            .header("Upgrade", "websocket")
            .header("Connection", "TE, Upgrade, Keep-Alive"),
        get("header_authorization_passed", APP).header("Authorization", "Bearer token123"),
        get("header_non_utf8_value", APP).header("X-Latin", b"caf\xe9"),
        get("header_empty_value", APP).header("X-Empty", ""),
        get("host_with_port", APP).host("localhost:8080"),
        // FcgidPassHeader.
        get("passheader", APP).header("X-Pass-Me", "passed value"),
        get("passheader_lowercase", APP).header("x-pass-me", "lower"),
        get("passheader_absent", APP),
        get("passheader_non_utf8", APP).header("X-Pass-Me", b"\xe9t\xe9"),
        get("passheader_in_request_env", q("reqenv")).header("X-Pass-Me", "seen"),
        // Status and Location.
        get("status_404", q("status=404")),
        get("status_500", q("status=500")),
        get("status_201", q("status=201")),
        get("status_204", q("status=204")),
        get("status_custom_reason", q("status=299+Fine+Thanks")),
        get(
            "status_302_location",
            q("status=302&location=http://example.com/x"),
        ),
        get(
            "status_301_local_location",
            q("status=301&location=/static.txt"),
        ),
        get("location_absolute", q("location=http://example.com/y")),
        get("location_local", q("location=/static.txt")),
        get(
            "location_local_app",
            q("location=/diffenv.fcgi%3Fredirected"),
        ),
        post(
            "location_local_from_post",
            q("location=/static.txt"),
            "posted=1",
        ),
        Case::new("head_location_local", "HEAD", q("location=/static.txt")),
        get("location_relative", q("location=relative/path")),
        get("header_lf_only", q("lf&cookies")),
        get("header_set_cookie_twice", q("cookies")),
        get("header_bad_line", q("badheader")),
        get("header_too_long", q("longheader")),
        get("header_no_end", q("noheaderend")),
        get("no_content_type", q("nocontenttype")),
        get("app_content_length", q("cl")),
        // In a class of its own: C may give the next request of the class
        // to the dead process (a 500) until its manager notices, a race.
        get("app_exits", "/crash/diffenv.fcgi?exit"),
        get("response_1mb", q("big=1048576")),
        get("range_request", q("big=1000")).header("Range", "bytes=0-9"),
        // Conditional requests (an app that sends Last-Modified and ETag).
        get("lastmod_plain", q("lastmod")),
        get("if_modified_since_later", q("lastmod"))
            .header("If-Modified-Since", "Sat, 01 Jan 2005 00:00:00 GMT"),
        get("if_modified_since_earlier", q("lastmod"))
            .header("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"),
        get("if_none_match", q("lastmod")).header("If-None-Match", "\"v1\""),
        get("if_none_match_other", q("lastmod")).header("If-None-Match", "\"v2\""),
        get("if_match_fails", q("lastmod")).header("If-Match", "\"v2\""),
        get("if_unmodified_since_fails", q("lastmod"))
            .header("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT"),
        Case::new("head_if_modified_since", "HEAD", q("lastmod"))
            .header("If-Modified-Since", "Sat, 01 Jan 2005 00:00:00 GMT"),
        post("post_if_none_match", q("lastmod"), "x=1").header("If-None-Match", "\"v1\""),
        // stderr.
        get("stderr_line", q("stderr")),
        get("stderr_64k", q("bigerr")),
        // Scripts that are not there or cannot run.
        get("script_missing", "/nope.fcgi"),
        get("script_missing_path_info", "/nope.fcgi/extra"),
        get("script_directory", "/dir.fcgi"),
        get("script_directory_slash", "/dir.fcgi/"),
        get("script_not_executable", "/noperm.fcgi"),
        get("script_owner_only", "/owneronly.fcgi"),
        get("script_fifo", "/fifo.fcgi"),
        get("execcgi_off", "/noexec/diffenv.fcgi"),
        get("scriptalias", "/sa/diffenv.fcgi"),
        get("scriptalias_path_info", "/sa/diffenv.fcgi/more?q=1"),
        get("scriptalias_missing", "/sa/nope.fcgi"),
        get("accept_path_info_off", "/apioff/diffenv.fcgi/extra"),
        get("accept_path_info_off_plain", "/apioff/diffenv.fcgi"),
        // LimitRequestBody 100 in /limit.
        post(
            "limit_request_body_under",
            "/limit/diffenv.fcgi",
            bytes(100),
        ),
        post("limit_request_body_over", "/limit/diffenv.fcgi", bytes(101)),
        post(
            "limit_request_body_chunked_over",
            "/limit/diffenv.fcgi",
            bytes(300),
        )
        .chunked(50),
        // FcgidWrapper.
        get("wrapper_suffix", "/wrap/page.wr?initial"),
        get("wrapper_suffix_path_info", "/wrap/page.wr/extra"),
        get("wrapper_missing_file", "/wrap/nope.wr"),
        get("wrapper_not_executable", "/wrapnoperm/page.wr"),
        get("wrapper_virtual", "/virt/anything?initial"),
        get("wrapper_virtual_path_info", "/virt/a/b/c?x=y"),
        post("wrapper_virtual_post", "/virt/post", "v=1"),
        get("php_env", "/php/env.php"),
        get("php_path_info", "/php/env.php/extra/info?a=b"),
        post("php_post", "/php/env.php", "name=php&x[]=1"),
        get("php_info", "/php/info.php"),
        get("php_missing", "/php/nope.php"),
        get("perl_cgi_fast", "/perl/counter.pl?name=camel"),
        post("perl_cgi_fast_post", "/perl/counter.pl", "name=dromedary"),
        // FcgidInitialEnv and a virtual host overriding the server's settings.
        get("initial_env", q("initial")),
        get("setenv_odd_names", "/oddenv/diffenv.fcgi"),
        get("cmd_options_initial_env", "/cmdopts/diffenv.fcgi?initial"),
        get("vhost_initial_env", q("initial")).vhost(),
        get("vhost_passheader", APP)
            .header("X-Pass-Me", "main")
            .header("X-Vhost-Pass", "vhost")
            .vhost(),
        post("vhost_max_request_len_under", APP, bytes(1000)).vhost(),
        post("vhost_max_request_len_over", APP, bytes(1001)).vhost(),
        // The three authorizer roles in front of /private.
        get("auth_no_credentials", "/private/diffenv.fcgi"),
        get("auth_wrong_password", "/private/diffenv.fcgi")
            .header("Authorization", "Basic YWxpY2U6bm9wZQ=="),
        get("auth_unknown_user", "/private/diffenv.fcgi")
            .header("Authorization", "Basic Ym9iOndvbmRlcmxhbmQ="),
        get("auth_ok", "/private/diffenv.fcgi?who=alice")
            .header("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="),
        post("auth_ok_post", "/private/diffenv.fcgi/pi", "a=1")
            .header("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="),
        get("auth_access_denied", "/private/diffenv.fcgi?deny")
            .header("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="),
        get("auth_malformed_credentials", "/private/diffenv.fcgi")
            .header("Authorization", "Basic !!!"),
        get("auth_not_authoritative_wrong", "/authoff/diffenv.fcgi")
            .header("Authorization", "Basic YWxpY2U6bm9wZQ=="),
        get("auth_not_authoritative_ok", "/authoff/diffenv.fcgi")
            .header("Authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="),
        get("access_checker_alone", "/access/diffenv.fcgi"),
        get("access_checker_alone_denied", "/access/diffenv.fcgi?deny"),
        // ErrorDocument served by an app.
        get("error_document_404", "/errdoc/missing.fcgi"),
        get("error_document_500", "/errdoc/diffenv.fcgi?badheader"),
        // Non-UTF-8 file names and URIs.
        get("non_utf8_file_encoded", "/caf%E9.fcgi"),
        get("non_utf8_file_raw", b"/caf\xe9.fcgi"),
        get("non_utf8_dir", "/d%E9j%E0/diffenv.fcgi?x"),
        get("non_utf8_path_info", format!("{APP}/%FF%FE")),
        get(
            "non_utf8_path_info_raw",
            [APP.as_bytes(), b"/\xff"].concat(),
        ),
        get("non_utf8_query", [APP.as_bytes(), b"?q=\xe9t\xe9"].concat()),
        get("utf8_file", "/%C3%BCber.fcgi"),
    ]
}

/// Cases for the pair of servers with `FcgidFixPathinfo 1`.
pub fn fix_pathinfo() -> Vec<Case> {
    vec![
        get("fixpathinfo_plain", APP),
        get("fixpathinfo_path_info", format!("{APP}/extra/path?x=1")),
        get("fixpathinfo_path_info_encoded", format!("{APP}/a%20b")),
        get("fixpathinfo_php", "/php/env.php/extra/info"),
        get("fixpathinfo_wrapper_virtual", "/virt/a/b"),
        get("fixpathinfo_scriptalias", "/sa/diffenv.fcgi/x"),
    ]
}
