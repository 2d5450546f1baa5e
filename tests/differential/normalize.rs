//! An answer as text that two servers can share: framing, dates and the
//! server banner left out, server roots and ports replaced by names, and
//! values that differ from one connection to the next masked.

use super::client::Response;

/// Headers left out: framing, the date, the banner.
const DROPPED: [&str; 6] = [
    "Date",
    "Server",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
];

/// Variables whose values differ on every connection or between the two
/// servers by construction (suffix match, so the authorizer's copies, such
/// as AUTHN_REMOTE_PORT, are masked too).
const MASKED: [&str; 3] = ["REMOTE_PORT", "UNIQUE_ID", "REQUEST_TIME"];

/// A body line longer than this is shown as its length and hash.
const LONG: usize = 1024;

/// Printable ASCII as is, every other byte (but newlines) as \xNN.
fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\n' | b'\t' | 0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Replaces the first run of digits after each `marker` with `with`.
fn mask_number_after(text: &str, marker: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(marker) {
        let (head, tail) = rest.split_at(i + marker.len());
        out.push_str(head);
        let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            out.push_str(with);
        }
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

fn line(l: &str) -> String {
    if let Some((name, _)) = l.split_once('=') {
        if MASKED.iter().any(|m| name.ends_with(m)) {
            return format!("{name}=(masked)");
        }
    }
    l.to_string()
}

/// The answer as text: interim status lines, the status line, the headers
/// sorted by name, a blank line, the body.
pub fn render(resp: &Response, root: &str, port: u16, port2: u16) -> String {
    let mut out = String::new();
    for i in &resp.interim {
        out.push_str(i);
        out.push('\n');
    }
    if resp.status_line.is_empty() {
        out.push_str("(no answer)\n");
    } else {
        out.push_str(&resp.status_line);
        out.push('\n');
    }
    let mut headers: Vec<&(String, String)> = resp
        .headers
        .iter()
        .filter(|(k, _)| !DROPPED.iter().any(|d| d.eq_ignore_ascii_case(k)))
        .collect();
    headers.sort_by_key(|(k, _)| k.to_ascii_lowercase());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out.push('\n');
    let lines: Vec<String> = resp
        .body
        .split(|&b| b == b'\n')
        .map(|l| {
            if l.len() > LONG {
                format!("(a line of {} bytes, fnv {:016x})", l.len(), fnv(l))
            } else {
                escape(l)
            }
        })
        .collect();
    out.push_str(&lines.join("\n"));
    let out = out.replace(root, "{ROOT}");
    let mut out = out;
    for (p, name) in [(port2, "{PORT2}"), (port, "{PORT}")] {
        for sep in [":", "=", "Port "] {
            out = out.replace(&format!("{sep}{p}"), &format!("{sep}{name}"));
        }
    }
    // The banner's module version (SERVER_SOFTWARE) and process ids.
    let out = mask_version(&out);
    let out = mask_number_after(&out, "pid=", "(pid)");
    out.split('\n').map(line).collect::<Vec<_>>().join("\n")
}

fn mask_version(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("mod_fcgid/") {
        let (head, tail) = rest.split_at(i + "mod_fcgid/".len());
        out.push_str(head);
        let n = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
            .count();
        out.push_str("(version)");
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// The lines only C has (`- `) and only ours has (`+ `), in order.
pub fn diff(c: &str, ours: &str) -> String {
    let a: Vec<&str> = c.lines().collect();
    let b: Vec<&str> = ours.lines().collect();
    // Longest common subsequence, for answers of a few hundred lines.
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("  + ours: {}", clip(b[j])));
            j += 1;
        } else {
            out.push(format!("  - C:    {}", clip(a[i])));
            i += 1;
        }
    }
    if out.len() > 60 {
        let more = out.len() - 60;
        out.truncate(60);
        out.push(format!("  ... and {more} more lines"));
    }
    out.join("\n")
}

fn clip(l: &str) -> String {
    if l.len() > 200 {
        format!(
            "{}... ({} bytes)",
            l.chars().take(200).collect::<String>(),
            l.len()
        )
    } else {
        l.to_string()
    }
}
