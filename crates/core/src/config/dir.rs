//! Per-directory settings: wrappers and the three authorizer roles.
//! They may appear in `<Directory>`, `<Location>`, `<Files>` and
//! .htaccess (with `AllowOverride FileInfo`); `FcgidWrapper` also at
//! server level, where httpd keeps it as the server's default directory
//! config.

use super::command::Command;

/// One `FcgidWrapper command [.suffix] [virtual]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wrapper {
    pub command: Command,
    /// E.g. `.php`, compared case-sensitively with the end of the file
    /// name. `None`: used for files no suffix-specific wrapper matches.
    pub suffix: Option<String>,
    /// The `virtual` flag: the requested file need not exist.
    pub is_virtual: bool,
}

const VIRTUAL_FLAG: &str = "virtual";

impl Wrapper {
    /// Parses the directive's one to three words. The command is one word
    /// that may hold arguments if the user quoted it.
    pub fn parse(directive: &str, args: &[String]) -> Result<Wrapper, String> {
        let (cmdline, mut suffix, mut flag) = match args {
            [c] => (c, None, None),
            [c, s] => (c, Some(s.as_str()), None),
            [c, s, f] => (c, Some(s.as_str()), Some(f.as_str())),
            _ => {
                return Err(format!(
                    "{directive}: expected: {directive} command [.suffix] [virtual]"
                ))
            }
        };
        // Two words: the second may be the flag instead of a suffix.
        if flag.is_none() && suffix.is_some_and(|s| s.eq_ignore_ascii_case(VIRTUAL_FLAG)) {
            flag = suffix.take();
        }
        if let Some(f) = flag {
            if !f.eq_ignore_ascii_case(VIRTUAL_FLAG) {
                return Err(format!(
                    "{directive}: '{f}' is not a valid flag; the only flag is 'virtual'"
                ));
            }
        }
        if let Some(s) = suffix {
            let valid = s.len() > 1 && s.starts_with('.') && !s.contains(['/', '\\']);
            if !valid {
                return Err(format!(
                    "{directive}: '{s}' is not a valid suffix; it must start with '.' \
                     and contain no '/' or '\\', e.g. '.php'"
                ));
            }
        }
        Ok(Wrapper {
            command: Command::parse(directive, cmdline)?,
            suffix: suffix.map(str::to_string),
            is_virtual: flag.is_some(),
        })
    }
}

/// Settings from directory-context directives; `None` is "not set here".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirConfig {
    /// At most one wrapper per suffix (and one without).
    pub wrappers: Vec<Wrapper>,
    pub authenticator: Option<Command>,
    pub authenticator_authoritative: Option<bool>,
    pub authorizer: Option<Command>,
    pub authorizer_authoritative: Option<bool>,
    pub access_checker: Option<Command>,
    pub access_checker_authoritative: Option<bool>,
}

impl DirConfig {
    /// Adds a wrapper; a later one for the same suffix replaces it.
    pub fn set_wrapper(&mut self, wrapper: Wrapper) {
        put_wrapper(&mut self.wrappers, wrapper);
    }

    /// The wrapper for a file: the one whose suffix is exactly the file
    /// name's text from its last '.', else the one without a suffix.
    pub fn wrapper_for(&self, filename: &str) -> Option<&Wrapper> {
        let suffix = filename.rfind('.').map(|i| &filename[i..]);
        let specific = suffix.and_then(|s| {
            self.wrappers
                .iter()
                .find(|w| w.suffix.as_deref() == Some(s))
        });
        specific.or_else(|| self.wrappers.iter().find(|w| w.suffix.is_none()))
    }

    /// On by default: a failing check ends the request.
    pub fn authenticator_authoritative(&self) -> bool {
        self.authenticator_authoritative.unwrap_or(true)
    }
    pub fn authorizer_authoritative(&self) -> bool {
        self.authorizer_authoritative.unwrap_or(true)
    }
    pub fn access_checker_authoritative(&self) -> bool {
        self.access_checker_authoritative.unwrap_or(true)
    }

    /// The config for a section nested in (or an .htaccess below) `base`:
    /// wrappers are base's with `add`'s replacing those of the same
    /// suffix; every other setting `add` leaves unset comes from `base`.
    pub fn merge(base: &DirConfig, add: &DirConfig) -> DirConfig {
        let mut wrappers = base.wrappers.clone();
        for w in &add.wrappers {
            put_wrapper(&mut wrappers, w.clone());
        }
        let pick = |a: &Option<Command>, b: &Option<Command>| a.clone().or_else(|| b.clone());
        DirConfig {
            wrappers,
            authenticator: pick(&add.authenticator, &base.authenticator),
            authenticator_authoritative: add
                .authenticator_authoritative
                .or(base.authenticator_authoritative),
            authorizer: pick(&add.authorizer, &base.authorizer),
            authorizer_authoritative: add
                .authorizer_authoritative
                .or(base.authorizer_authoritative),
            access_checker: pick(&add.access_checker, &base.access_checker),
            access_checker_authoritative: add
                .access_checker_authoritative
                .or(base.access_checker_authoritative),
        }
    }
}

fn put_wrapper(list: &mut Vec<Wrapper>, wrapper: Wrapper) {
    match list.iter_mut().find(|w| w.suffix == wrapper.suffix) {
        Some(old) => *old = wrapper,
        None => list.push(wrapper),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_files::TestDir;

    fn words(s: &[&str]) -> Vec<String> {
        s.iter().map(|w| w.to_string()).collect()
    }

    fn wrapper(dir: &TestDir, exe: &str, suffix: Option<&str>) -> Wrapper {
        let mut args = vec![dir.file(exe)];
        args.extend(suffix.map(str::to_string));
        Wrapper::parse("FcgidWrapper", &args).unwrap()
    }

    #[test]
    fn parse_forms() {
        let dir = TestDir::new("wrapper-forms");
        let php = dir.file("php-cgi");
        let quoted = format!("{php} -d memory_limit=64M");

        let w = Wrapper::parse("FcgidWrapper", &words(&[&quoted])).unwrap();
        assert_eq!((w.suffix, w.is_virtual), (None, false));
        assert_eq!(w.command.path, php);
        assert_eq!(w.command.cmdline, quoted);

        let w = Wrapper::parse("FcgidWrapper", &words(&[&php, ".php"])).unwrap();
        assert_eq!((w.suffix.as_deref(), w.is_virtual), (Some(".php"), false));

        let w = Wrapper::parse("FcgidWrapper", &words(&[&php, "Virtual"])).unwrap();
        assert_eq!((w.suffix, w.is_virtual), (None, true));

        let w = Wrapper::parse("FcgidWrapper", &words(&[&php, ".PHP", "VIRTUAL"])).unwrap();
        assert_eq!((w.suffix.as_deref(), w.is_virtual), (Some(".PHP"), true));
    }

    #[test]
    fn parse_rejects_bad_suffix_flag_and_command() {
        let dir = TestDir::new("wrapper-bad");
        let php = dir.file("php-cgi");
        let parse = |a: &[&str]| Wrapper::parse("FCGIWrapper", &words(a)).unwrap_err();
        for bad in ["php", ".", "./x", ".a\\b"] {
            let err = parse(&[&php, bad]);
            assert!(
                err.starts_with(&format!("FCGIWrapper: '{bad}' is not a valid suffix")),
                "{err}"
            );
        }
        assert!(parse(&[&php, ".php", "real"]).contains("'real' is not a valid flag"));
        // The flag only moves to second place when there is no third word.
        assert!(parse(&[&php, "virtual", "virtual"]).contains("not a valid suffix"));
        assert!(parse(&["/no/such/php-cgi", ".php"]).contains("cannot access"));
        assert!(parse(&[]).starts_with("FCGIWrapper: expected"));
        assert!(parse(&[&php, ".php", "virtual", "x"]).starts_with("FCGIWrapper: expected"));
    }

    #[test]
    fn wrapper_for_prefers_exact_suffix_then_generic() {
        let dir = TestDir::new("wrapper-select");
        let mut c = DirConfig::default();
        assert!(c.wrapper_for("/srv/a.php").is_none());

        c.set_wrapper(wrapper(&dir, "php", Some(".php")));
        assert!(c.wrapper_for("/srv/a.pl").is_none());
        c.set_wrapper(wrapper(&dir, "generic", None));
        c.set_wrapper(wrapper(&dir, "perl", Some(".pl")));

        let exe = |f: &str| {
            let path = &c.wrapper_for(f).unwrap().command.path;
            path.rsplit('/').next().unwrap().to_string()
        };
        assert_eq!(exe("/srv/a.php"), "php");
        assert_eq!(exe("/srv/x.tar.pl"), "perl");
        assert_eq!(exe("/srv/index.html"), "generic");
        assert_eq!(exe("/srv/README"), "generic");
        // Case-sensitive, as in C.
        assert_eq!(exe("/srv/A.PHP"), "generic");
        // Only the text after the last '.' counts, even in a directory name.
        assert_eq!(exe("/srv/site.php/run"), "generic");
        assert_eq!(exe("/srv/a.php.bak"), "generic");
    }

    #[test]
    fn later_wrapper_for_same_suffix_wins() {
        let dir = TestDir::new("wrapper-replace");
        let mut c = DirConfig::default();
        c.set_wrapper(wrapper(&dir, "old", Some(".php")));
        c.set_wrapper(wrapper(&dir, "new", Some(".php")));
        assert_eq!(c.wrappers.len(), 1);
        assert!(c
            .wrapper_for("x.php")
            .unwrap()
            .command
            .path
            .ends_with("/new"));
    }

    #[test]
    fn merge_overlays_wrappers_and_inherits_auth() {
        let dir = TestDir::new("dir-merge");
        let auth = Command::parse("FcgidAuthenticator", &dir.file("auth")).unwrap();
        let authz = Command::parse("FcgidAuthorizer", &dir.file("authz")).unwrap();
        let authz2 = Command::parse("FcgidAuthorizer", &dir.file("authz2")).unwrap();

        let mut base = DirConfig {
            authenticator: Some(auth.clone()),
            authenticator_authoritative: Some(false),
            authorizer: Some(authz),
            ..DirConfig::default()
        };
        base.set_wrapper(wrapper(&dir, "base-php", Some(".php")));
        base.set_wrapper(wrapper(&dir, "base-all", None));

        let mut add = DirConfig {
            authorizer: Some(authz2.clone()),
            access_checker_authoritative: Some(false),
            ..DirConfig::default()
        };
        add.set_wrapper(wrapper(&dir, "add-php", Some(".php")));

        let m = DirConfig::merge(&base, &add);
        assert!(m
            .wrapper_for("a.php")
            .unwrap()
            .command
            .path
            .ends_with("/add-php"));
        assert!(m
            .wrapper_for("a.cgi")
            .unwrap()
            .command
            .path
            .ends_with("/base-all"));
        assert_eq!(m.authenticator, Some(auth));
        assert!(!m.authenticator_authoritative());
        assert_eq!(m.authorizer, Some(authz2));
        assert!(m.authorizer_authoritative());
        assert!(m.access_checker.is_none());
        assert!(!m.access_checker_authoritative());
    }

    #[test]
    fn authoritative_defaults_on() {
        let c = DirConfig::default();
        assert!(c.authenticator_authoritative());
        assert!(c.authorizer_authoritative());
        assert!(c.access_checker_authoritative());
    }
}
