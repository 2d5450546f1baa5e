//! The command line, and `-f` command files.
//!
//! Parsing reports what libfcgi's cgi-fcgi reports, with the same messages
//! in the same order, so scripts and logs see no difference on a bad command
//! line. It differs only where the original is poor (see the crate docs).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Printed after the error messages of a bad command line (the original's
/// text: users and scripts know it).
pub const USAGE: &str = "Usage:
    cgi-fcgi -f <cmdPath> , or
    cgi-fcgi -connect <connName> <appPath> [<nServers>] , or
    cgi-fcgi -start -connect <connName> <appPath> [<nServers>] , or
    cgi-fcgi -bind -connect <connName> ,
where <connName> is either the pathname of a UNIX domain socket
or (if -bind is given) a hostName:portNumber specification
or (if -start is given) a :portNumber specification (uses local host).
";

/// What to do with the connection name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-bind`: connect and run the request.
    Bind,
    /// `-start`: listen, start the servers, exit.
    Start,
    /// Neither: connect; if nothing listens, start and connect again.
    StartIfNeeded,
}

/// A valid command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub mode: Mode,
    /// The `-connect` name, not yet interpreted (see `addr`).
    pub conn: OsString,
    /// The application; `None` only with `-bind`, which ignores it anyway.
    pub app: Option<OsString>,
    /// Copies of the application to start (at least 1).
    pub servers: u32,
}

/// A bad command line: the messages to print before `USAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    pub messages: Vec<String>,
}

/// Parses the arguments after the program name. A `-f` file replaces the
/// whole command line: arguments after it are ignored, as a CGI server may
/// append some from the query string when it runs a `#!... -f` script.
pub fn parse(args: &[OsString]) -> Result<Args, UsageError> {
    parse_with(args, &mut |file| std::fs::read(file))
}

/// `parse`, with `-f` files read through `read_file` instead of from disk
/// (the fuzz target serves them from memory).
pub fn parse_with(
    args: &[OsString],
    read_file: &mut dyn FnMut(&OsStr) -> io::Result<Vec<u8>>,
) -> Result<Args, UsageError> {
    parse_nested(args, read_file, 0)
}

/// How many `-f` files may name further `-f` files. A file that names
/// itself, directly or through others, would otherwise recurse until the
/// stack overflows (found by fuzzing).
pub const MAX_NESTED_FILES: usize = 16;

fn parse_nested(
    args: &[OsString],
    read_file: &mut dyn FnMut(&OsStr) -> io::Result<Vec<u8>>,
    depth: usize,
) -> Result<Args, UsageError> {
    let mut p = Parser::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        i += 1;
        match arg {
            b"-f" => {
                let Some(file) = args.get(i) else {
                    p.fail("Missing command file name after -f".into());
                    return Err(p.into_error());
                };
                if depth == MAX_NESTED_FILES {
                    let file = file.to_string_lossy();
                    p.fail(format!(
                        "Command file {file} is nested more than {MAX_NESTED_FILES} deep"
                    ));
                    return Err(p.into_error());
                }
                let words = match read_file(file) {
                    Ok(text) => command_file_words(&text),
                    Err(_) => {
                        let file = file.to_string_lossy();
                        p.fail(format!("Cannot open command file {file}"));
                        return Err(p.into_error());
                    }
                };
                // Errors before `-f` still count (the original prints them
                // and then forgets them).
                return match (parse_nested(&words, read_file, depth + 1), p.errors) {
                    (Ok(args), 0) => Ok(args),
                    (Ok(_), _) => Err(p.into_error()),
                    (Err(inner), _) => {
                        p.messages.extend(inner.messages);
                        Err(p.into_error())
                    }
                };
            }
            b"-start" => p.bind = false,
            b"-bind" => p.start = false,
            b"-connect" => match args.get(i) {
                Some(name) => {
                    p.conn = Some(name.clone());
                    i += 1;
                }
                None => p.fail("Missing connection name after -connect".into()),
            },
            [b'-', ..] => p.fail(format!("Unknown option {}", lossy(arg))),
            _ => p.positional(arg),
        }
    }
    p.finish()
}

#[derive(Debug)]
struct Parser {
    bind: bool,
    start: bool,
    conn: Option<OsString>,
    app: Option<OsString>,
    servers: Option<u32>,
    messages: Vec<String>,
    errors: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            bind: true,
            start: true,
            conn: None,
            app: None,
            servers: None,
            messages: Vec::new(),
            errors: 0,
        }
    }
}

impl Parser {
    fn fail(&mut self, message: String) {
        self.messages.push(message);
        self.errors += 1;
    }

    /// The application path, then a server count.
    fn positional(&mut self, arg: &[u8]) {
        if self.app.is_none() {
            // An empty word leaves the path unset, as in the original.
            if !arg.is_empty() {
                self.app = Some(OsStr::from_bytes(arg).to_os_string());
            }
        } else if arg.first().is_some_and(u8::is_ascii_digit) && self.servers.is_none() {
            // Read like atoi: "3x" is 3.
            match leading_number(arg) {
                n @ 1.. => self.servers = Some(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => self.fail("Number of servers must be greater than 0".into()),
            }
        } else {
            self.fail(format!("Unknown argument {}", lossy(arg)));
        }
    }

    fn finish(mut self) -> Result<Args, UsageError> {
        if self.start && self.app.is_none() {
            self.fail("Missing application pathname".into());
        }
        if self.conn.as_ref().is_none_or(|c| c.is_empty()) {
            self.fail("Missing -connect <connName>".into());
        }
        // The original accepts both and then fails to connect, exiting 0.
        if !self.bind && !self.start {
            self.fail("-bind and -start cannot be used together".into());
        }
        if self.errors > 0 {
            return Err(self.into_error());
        }
        let mode = match (self.bind, self.start) {
            (true, false) => Mode::Bind,
            (false, true) => Mode::Start,
            _ => Mode::StartIfNeeded,
        };
        Ok(Args {
            mode,
            conn: self.conn.unwrap_or_default(),
            app: self.app,
            servers: self.servers.unwrap_or(1),
        })
    }

    fn into_error(self) -> UsageError {
        UsageError {
            messages: self.messages,
        }
    }
}

/// The words of a command file: lines starting with `#` are skipped (so the
/// file can begin with `#!/path/cgi-fcgi -f`); every other line is split at
/// runs of blanks (spaces, tabs, a CR before the newline). The last line
/// needs no newline, and there is no limit on lines or words.
pub fn command_file_words(text: &[u8]) -> Vec<OsString> {
    text.split(|&b| b == b'\n')
        .filter(|line| !line.starts_with(b"#"))
        .flat_map(|line| line.split(u8::is_ascii_whitespace))
        .filter(|word| !word.is_empty())
        .map(|word| OsString::from_vec(word.to_vec()))
        .collect()
}

/// The number at the start of `s`, read like C's `atoi`: leading blanks, a
/// sign, then digits; anything after is ignored; no digits is 0. Saturates
/// instead of overflowing.
pub fn leading_number(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| {
            n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if negative {
        -n
    } else {
        n
    }
}

fn lossy(arg: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(arg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn ok(args: &[&str]) -> Args {
        parse(&os(args)).unwrap_or_else(|e| panic!("{args:?}: {:?}", e.messages))
    }

    fn err(args: &[&str]) -> Vec<String> {
        match parse(&os(args)) {
            Ok(a) => panic!("{args:?} parsed as {a:?}"),
            Err(e) => e.messages,
        }
    }

    #[test]
    fn the_three_forms() {
        let a = ok(&["-bind", "-connect", "/s"]);
        assert_eq!(
            (a.mode, a.conn.as_os_str(), a.app),
            (Mode::Bind, OsStr::new("/s"), None)
        );
        let a = ok(&["-start", "-connect", ":9000", "/app", "4"]);
        assert_eq!((a.mode, a.servers), (Mode::Start, 4));
        assert_eq!(a.app.as_deref(), Some(OsStr::new("/app")));
        let a = ok(&["-connect", "/s", "/app"]);
        assert_eq!((a.mode, a.servers), (Mode::StartIfNeeded, 1));
        // Options and words may come in any order; -bind takes an app path
        // and ignores it.
        let a = ok(&["/app", "2", "-connect", "/s", "-bind"]);
        assert_eq!((a.mode, a.servers), (Mode::Bind, 2));
        // The last -connect wins.
        assert_eq!(
            ok(&["-bind", "-connect", "/a", "-connect", "/b"]).conn,
            "/b"
        );
    }

    #[test]
    fn messages_come_in_the_original_order() {
        assert_eq!(
            err(&[]),
            [
                "Missing application pathname",
                "Missing -connect <connName>"
            ]
        );
        assert_eq!(
            err(&["-x", "-connect"]),
            [
                "Unknown option -x",
                "Missing connection name after -connect",
                "Missing application pathname",
                "Missing -connect <connName>"
            ]
        );
        assert_eq!(err(&["-", "-bind"])[0], "Unknown option -");
        assert_eq!(err(&["-bind"]), ["Missing -connect <connName>"]);
        assert_eq!(
            err(&["-start", "-connect", "s"]),
            ["Missing application pathname"]
        );
    }

    #[test]
    fn server_counts() {
        assert_eq!(ok(&["-connect", "s", "a", "3x"]).servers, 3);
        assert_eq!(
            err(&["-connect", "s", "a", "0"]),
            ["Number of servers must be greater than 0"]
        );
        assert_eq!(
            err(&["-connect", "s", "a", "2", "3"]),
            ["Unknown argument 3"]
        );
        assert_eq!(err(&["-connect", "s", "a", "x"]), ["Unknown argument x"]);
        assert_eq!(ok(&["-connect", "s", "a", "99999999999"]).servers, u32::MAX);
    }

    #[test]
    fn bind_with_start_is_refused() {
        assert_eq!(
            err(&["-bind", "-start", "-connect", "s", "a"]),
            ["-bind and -start cannot be used together"]
        );
    }

    #[test]
    fn empty_words() {
        // An empty word where the app path goes leaves it unset.
        assert_eq!(
            err(&["", "-connect", "s"]),
            ["Missing application pathname"]
        );
        assert_eq!(
            err(&["-connect", ""]),
            [
                "Missing application pathname",
                "Missing -connect <connName>"
            ]
        );
    }

    #[test]
    fn command_file_words_skip_comments_and_blanks() {
        let text = b"#!/usr/bin/cgi-fcgi -f\n\n  -connect\t/s  /app \r\n# -bind\n 2";
        assert_eq!(
            command_file_words(text),
            os(&["-connect", "/s", "/app", "2"])
        );
        assert!(command_file_words(b"").is_empty());
        assert!(command_file_words(b"#only a comment").is_empty());
        // Only a `#` in the first column starts a comment.
        assert_eq!(command_file_words(b" # x"), os(&["#", "x"]));
        let many: String = (1..=40).map(|n| format!("{n} ")).collect();
        assert_eq!(command_file_words(many.as_bytes()).len(), 40);
    }

    fn temp_file(name: &str, text: &str) -> OsString {
        let path =
            std::env::temp_dir().join(format!("cgi-fcgi-args-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path.into_os_string()
    }

    #[test]
    fn command_file_replaces_the_command_line() {
        let file = temp_file("ok", "#!/x -f\n-bind -connect /s\n");
        let a = parse(&[OsString::from("-f"), file.clone(), "ignored".into()]).unwrap();
        assert_eq!((a.mode, a.conn.as_os_str()), (Mode::Bind, OsStr::new("/s")));
        // Options before -f are dropped, but their errors count.
        let a = parse(&["-start".into(), "-f".into(), file.clone()]).unwrap();
        assert_eq!(a.mode, Mode::Bind);
        let e = parse(&["-x".into(), "-f".into(), file.clone()]).unwrap_err();
        assert_eq!(e.messages, ["Unknown option -x"]);
        // A file may name another file.
        let outer = temp_file("outer", &format!("-f {}\n", file.to_string_lossy()));
        assert_eq!(parse(&["-f".into(), outer.clone()]).unwrap(), a);
        // Errors inside the file are reported like those on the command line.
        let bad = temp_file("bad", "-bind -y\n");
        let e = parse(&["-f".into(), bad.clone()]).unwrap_err();
        assert_eq!(
            e.messages,
            ["Unknown option -y", "Missing -connect <connName>"]
        );
        for f in [file, outer, bad] {
            std::fs::remove_file(f).unwrap();
        }
    }

    #[test]
    fn command_file_naming_itself_is_an_error_not_a_stack_overflow() {
        let file = temp_file("self", "");
        std::fs::write(&file, format!("-f {}\n", file.to_string_lossy())).unwrap();
        let e = parse(&["-f".into(), file.clone()]).unwrap_err();
        let name = file.to_string_lossy();
        assert_eq!(
            e.messages,
            [format!("Command file {name} is nested more than 16 deep")]
        );
        std::fs::remove_file(file).unwrap();

        // Files in memory: "0" names "1", which names "0" again.
        let mut read = |name: &OsStr| match name.as_bytes() {
            b"0" => Ok(b"-f 1".to_vec()),
            b"1" => Ok(b"-bind -f 0".to_vec()),
            _ => Err(io::Error::from(io::ErrorKind::NotFound)),
        };
        let e = parse_with(&os(&["-f", "0"]), &mut read).unwrap_err();
        assert_eq!(e.messages, ["Command file 0 is nested more than 16 deep"]);
        // Up to the limit, files may name files: here 16 in a chain.
        let mut read = |name: &OsStr| {
            let n: usize = name.to_str().unwrap().parse().unwrap();
            Ok(if n + 1 < MAX_NESTED_FILES {
                format!("-f {}", n + 1).into_bytes()
            } else {
                b"-bind -connect /s".to_vec()
            })
        };
        assert_eq!(
            parse_with(&os(&["-f", "0"]), &mut read).unwrap().mode,
            Mode::Bind
        );
    }

    #[test]
    fn command_file_errors() {
        assert_eq!(err(&["-f"]), ["Missing command file name after -f"]);
        assert_eq!(
            err(&["-f", "/nonexistent/cmd"]),
            ["Cannot open command file /nonexistent/cmd"]
        );
    }

    #[test]
    fn leading_numbers_read_like_atoi() {
        for (s, n) in [
            ("", 0),
            ("x", 0),
            ("12", 12),
            ("12abc", 12),
            ("  7", 7),
            ("-5", -5),
            ("+5", 5),
            ("99999999999999999999999", i64::MAX),
        ] {
            assert_eq!(leading_number(s.as_bytes()), n, "{s:?}");
        }
    }
}
