//! A program named by a directive (wrapper, authenticator, …): its
//! command line, the executable, and the file's identity.

use std::os::unix::fs::MetadataExt;

/// Device and inode of an executable. Together with the command line
/// they identify a process class, so a class survives a rename of the
/// path but not a replacement of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// A command from `FcgidWrapper` or one of the authorizer directives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The directive word as written, e.g. `/usr/bin/php-cgi -d foo=1`.
    pub cmdline: String,
    /// The executable: the first word of `cmdline`.
    pub path: String,
    /// Identity of `path` when the directive was read.
    pub file_id: FileId,
}

impl Command {
    /// Splits `cmdline`, and checks that its executable exists (like C,
    /// at configuration time, so a typo fails `configtest`).
    pub fn parse(directive: &str, cmdline: &str) -> Result<Command, String> {
        let path = match split_command_line(cmdline).into_iter().next() {
            Some(p) if !p.is_empty() => p,
            _ => return Err(format!("{directive}: the command is empty")),
        };
        let file_id = file_id(directive, &path)?;
        Ok(Command {
            cmdline: cmdline.to_string(),
            path,
            file_id,
        })
    }

    /// The argument vector to execute, executable first.
    pub fn argv(&self) -> Vec<String> {
        split_command_line(&self.cmdline)
    }
}

/// Stats `path` (following symlinks), with an error naming the directive.
pub fn file_id(directive: &str, path: &str) -> Result<FileId, String> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(FileId {
            dev: m.dev(),
            ino: m.ino(),
        }),
        Err(e) => Err(format!("{directive}: cannot access '{path}': {e}")),
    }
}

/// Splits a command line into words the way httpd's APR does
/// (`apr_tokenize_to_argv`), so wrapper lines keep their C meaning:
/// - words are separated by spaces and tabs;
/// - a word starting with `"` or `'` runs to the matching quote;
/// - a backslash before a space, tab or quote keeps that character in
///   the word; afterwards every unescaped backslash is dropped
///   (so `a\\b` gives `a\b` and `a\b` gives `ab`).
pub fn split_command_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let is_blank = |c: char| c == ' ' || c == '\t';
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && is_blank(chars[i]) {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let quote = match chars[i] {
            q @ ('"' | '\'') => {
                i += 1;
                Some(q)
            }
            _ => None,
        };
        let start = i;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c == '\\' && matches!(next, Some(' ' | '\t' | '"' | '\'')) {
                i += 2;
                continue;
            }
            let ends_word = match quote {
                Some(q) => c == q,
                None => is_blank(c),
            };
            if ends_word {
                break;
            }
            i += 1;
        }
        words.push(drop_escapes(&chars[start..i]));
        i += 1; // past the blank or closing quote
    }
    words
}

fn drop_escapes(raw: &[char]) -> String {
    let mut word = String::with_capacity(raw.len());
    let mut escaped = false;
    for &c in raw {
        if c == '\\' && !escaped {
            escaped = true;
        } else {
            escaped = false;
            word.push(c);
        }
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_files::TestDir;

    fn split(s: &str) -> Vec<String> {
        split_command_line(s)
    }

    #[test]
    fn splits_on_blanks() {
        assert_eq!(
            split("  /usr/bin/php-cgi\t-d  foo=1 "),
            ["/usr/bin/php-cgi", "-d", "foo=1"]
        );
        assert!(split("   ").is_empty());
    }

    #[test]
    fn quotes_group_words() {
        assert_eq!(
            split(r#"/bin/app "a b" 'c "d"'"#),
            ["/bin/app", "a b", r#"c "d""#]
        );
        // A quote inside an unquoted word is an ordinary character.
        assert_eq!(split(r#"x"y z"#), [r#"x"y"#, "z"]);
        // Unterminated quote: the word runs to the end.
        assert_eq!(split(r#"a "b c"#), ["a", "b c"]);
    }

    #[test]
    fn backslashes_escape_and_are_dropped() {
        assert_eq!(split(r"/opt/my\ app/run -x"), ["/opt/my app/run", "-x"]);
        assert_eq!(split(r#""say \"hi\"""#), [r#"say "hi""#]);
        assert_eq!(split(r"a\\b c\d"), [r"a\b", "cd"]);
    }

    #[test]
    fn parse_keeps_cmdline_and_finds_executable() {
        let dir = TestDir::new("command-parse");
        let exe = dir.file("php-cgi");
        let line = format!("{exe} -d foo=1");
        let cmd = Command::parse("FcgidWrapper", &line).unwrap();
        assert_eq!(cmd.cmdline, line);
        assert_eq!(cmd.path, exe);
        assert_eq!(cmd.argv(), [exe.as_str(), "-d", "foo=1"]);
        assert_eq!(cmd.file_id, file_id("x", &exe).unwrap());
    }

    #[test]
    fn parse_rejects_missing_or_empty() {
        let err = Command::parse("FCGIWrapper", "/no/such/file/anywhere -x").unwrap_err();
        assert!(
            err.starts_with("FCGIWrapper: cannot access '/no/such/file/anywhere'"),
            "{err}"
        );
        let err = Command::parse("FcgidAuthenticator", "  ").unwrap_err();
        assert_eq!(err, "FcgidAuthenticator: the command is empty");
        assert!(Command::parse("FcgidAuthenticator", r#""""#).is_err());
    }
}
