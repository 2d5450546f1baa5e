//! Which programs the manager may start: the commands the configuration
//! names (wrappers, authorizer programs, FcgidCmdOptions), and scripts
//! under the directories it serves (DocumentRoots, <Directory> paths).
//! Whoever reaches the manager's socket can name a class; this keeps the
//! manager to what the configuration allows. Paths are compared as given:
//! the daemon resolves symbolic links before asking. A root may be a
//! wildcard path as <Directory> takes it (`/home/*/public_html`): `*` and
//! `?` match within one path component.

use std::collections::BTreeSet;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    commands: BTreeSet<Vec<u8>>,
    roots: BTreeSet<Vec<u8>>,
}

impl AllowList {
    /// A command the configuration names, by its executable's path.
    pub fn add_command(&mut self, path: &[u8]) {
        self.commands.insert(path.to_vec());
    }

    /// A directory whose scripts may run (and everything below it).
    pub fn add_root(&mut self, dir: &[u8]) {
        let mut d = dir.to_vec();
        while d.len() > 1 && d.ends_with(b"/") {
            d.pop();
        }
        self.roots.insert(d);
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.roots.is_empty()
    }

    /// May a class whose executable is `path` be started?
    pub fn allows(&self, path: &[u8]) -> bool {
        if self.commands.contains(path) {
            return true;
        }
        self.roots.iter().any(|root| below(root, path))
    }

    /// As plain lists, for the wire.
    pub fn parts(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        (
            self.commands.iter().cloned().collect(),
            self.roots.iter().cloned().collect(),
        )
    }
}

/// Is `path` strictly below `root` (whose components may hold wildcards)?
fn below(root: &[u8], path: &[u8]) -> bool {
    if root == b"/" {
        return path.len() > 1 && path.starts_with(b"/");
    }
    let mut want = root.split(|&c| c == b'/');
    let mut have = path.split(|&c| c == b'/');
    for pattern in want.by_ref() {
        match have.next() {
            Some(part) if glob(pattern, part) => {}
            _ => return false,
        }
    }
    // Something must be left: the root itself is no script.
    have.any(|part| !part.is_empty())
}

/// `*` (any run) and `?` (any one byte) within a component; all else literal.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> AllowList {
        let mut a = AllowList::default();
        a.add_command(b"/usr/bin/php-cgi");
        a.add_root(b"/var/www/site/");
        a
    }

    #[test]
    fn named_commands_and_scripts_below_a_root_are_allowed() {
        let a = list();
        assert!(a.allows(b"/usr/bin/php-cgi"));
        assert!(a.allows(b"/var/www/site/app.fcgi"));
        assert!(a.allows(b"/var/www/site/deep/er/app.fcgi"));
    }

    #[test]
    fn anything_else_is_refused() {
        let a = list();
        assert!(
            !a.allows(b"/usr/bin/php-cgi8"),
            "a command is matched whole"
        );
        assert!(!a.allows(b"/bin/sh"));
        assert!(!a.allows(b"/var/www/site"), "the root itself is no script");
        assert!(
            !a.allows(b"/var/www/site-other/x.fcgi"),
            "a prefix is not a parent"
        );
        assert!(!a.allows(b"/var/www/x.fcgi"));
    }

    #[test]
    fn wildcard_roots_match_one_component_per_star() {
        let mut a = AllowList::default();
        a.add_root(b"/home/*/public_html");
        assert!(a.allows(b"/home/ann/public_html/app.fcgi"));
        assert!(a.allows(b"/home/ann/public_html/x/y.php"));
        assert!(!a.allows(b"/home/ann/private/app.fcgi"));
        assert!(!a.allows(b"/home/ann/public_html"));
        assert!(
            !a.allows(b"/home/a/b/public_html/x"),
            "a star stays in its component"
        );
    }
}
