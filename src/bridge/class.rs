//! Which process class serves a request, and how its processes are started.

use super::decimal::Decimal;
use crate::config::{Command, ProcessOptions, ServerConfig, Wrapper};
use crate::ffi::request::VhostId;
use crate::pm::wire::{ClassLimits, ClassSpec};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// What the handler knows about the request's target.
pub struct Target<'a> {
    /// Any bytes: file names need not be UTF-8.
    pub filename: &'a Path,
    /// device and inode of the script, when it exists
    pub file_id: Option<(u64, u64)>,
    pub vhost: VhostId<'a>,
    pub uid: u32,
    pub gid: u32,
}

/// A zero timeout means "never" in mod_fcgid's settings.
fn never_if_zero(d: Duration) -> Duration {
    if d.is_zero() {
        Duration::from_secs(u32::MAX as u64)
    } else {
        d
    }
}

fn parent_dir(path: &Path) -> Vec<u8> {
    path.parent()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .unwrap_or_else(|| b"/".to_vec())
}

/// The class for `target` (its own executable, or `wrapper`, the one
/// configured for it) and the settings its processes and requests run
/// with. None when there is no wrapper and the file does not exist.
pub fn class_for(
    target: &Target,
    server: &ServerConfig,
    wrapper: Option<&Wrapper>,
) -> Option<(ClassSpec, ProcessOptions)> {
    let cwd = parent_dir(target.filename);
    Some(match wrapper {
        // As in C, all scripts run through one wrapper share its pool: the
        // wrapper learns the script from SCRIPT_FILENAME on each request.
        Some(w) => build(
            target,
            server,
            &bytes(w.command.argv()),
            &w.command.path,
            (w.command.file_id.dev, w.command.file_id.ino),
            cwd,
        ),
        None => build(
            target,
            server,
            &[target.filename.as_os_str().as_bytes().to_vec()],
            &target.filename.to_string_lossy(),
            target.file_id?,
            cwd,
        ),
    })
}

/// The class of an authorizer-role program (`FcgidAuthenticator` and the
/// others), run in its own directory.
pub fn class_for_command(
    command: &Command,
    target: &Target,
    server: &ServerConfig,
) -> (ClassSpec, ProcessOptions) {
    let file_id = (command.file_id.dev, command.file_id.ino);
    build(
        target,
        server,
        &bytes(command.argv()),
        &command.path,
        file_id,
        parent_dir(Path::new(&command.path)),
    )
}

fn bytes(words: Vec<String>) -> Vec<Vec<u8>> {
    words.into_iter().map(String::into_bytes).collect()
}

/// `dev:ino|argv|vhost|uid:gid`, built without `format!` (this runs on
/// every request).
fn class_key(file_id: (u64, u64), argv: &[Vec<u8>], vhost: VhostId, uid: u32, gid: u32) -> String {
    let words: usize = argv.iter().map(|a| a.len() + 1).sum();
    let mut key = String::with_capacity(64 + words + vhost.name.len());
    push_number(&mut key, file_id.0);
    key.push(':');
    push_number(&mut key, file_id.1);
    key.push('|');
    for (i, word) in argv.iter().enumerate() {
        if i > 0 {
            key.push(' ');
        }
        // Lossy word by word is lossy of the joined words: a space ends any
        // broken sequence.
        key.push_str(&String::from_utf8_lossy(word));
    }
    key.push('|');
    key.push_str(vhost.name);
    key.push(':');
    push_number(&mut key, vhost.port.into());
    key.push('|');
    push_number(&mut key, uid.into());
    key.push(':');
    push_number(&mut key, gid.into());
    key
}

/// Appends `n` in decimal.
fn push_number(s: &mut String, n: u64) {
    s.push_str(Decimal::new(n).as_str());
}

fn build(
    target: &Target,
    server: &ServerConfig,
    argv: &[Vec<u8>],
    exe: &str,
    file_id: (u64, u64),
    cwd: Vec<u8>,
) -> (ClassSpec, ProcessOptions) {
    let opts = server.process_options(exe);
    let key = class_key(file_id, argv, target.vhost, target.uid, target.gid);
    let spec = ClassSpec {
        key,
        argv: argv.to_vec(),
        cwd,
        env: opts
            .initial_env
            .iter()
            .map(|(k, v)| (k.clone().into_bytes(), v.clone().into_bytes()))
            .collect(),
        limits: ClassLimits {
            max_processes: opts.max_processes_per_class,
            min_processes: opts.min_processes_per_class,
            idle_timeout: never_if_zero(opts.idle_timeout),
            lifetime: never_if_zero(opts.process_lifetime),
            busy_timeout: never_if_zero(opts.busy_timeout),
            max_requests: opts.max_requests_per_process,
        },
        uid: target.uid,
        gid: target.gid,
    };
    (spec, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DirConfig;

    fn target(filename: &str) -> Target<'_> {
        Target {
            filename: Path::new(filename),
            file_id: Some((8, 42)),
            vhost: VhostId {
                name: "example.org",
                port: 80,
            },
            uid: 33,
            gid: 33,
        }
    }

    #[test]
    fn a_script_is_its_own_class_run_in_its_directory() {
        let server = ServerConfig::default();
        let (a, _) = class_for(&target("/srv/www/a.fcgi"), &server, None).unwrap();
        assert_eq!(a.argv, vec![b"/srv/www/a.fcgi".to_vec()]);
        assert_eq!(a.cwd, b"/srv/www".to_vec());
        assert_eq!(a.limits.max_processes, 100);
        let mut other = target("/srv/www/a.fcgi");
        other.vhost.name = "other.org";
        let (b, _) = class_for(&other, &server, None).unwrap();
        assert_ne!(a.key, b.key, "another virtual host is another class");
        let missing = Target {
            file_id: None,
            ..target("/srv/www/gone.fcgi")
        };
        assert!(class_for(&missing, &server, None).is_none());
    }

    #[test]
    fn scripts_behind_one_wrapper_share_its_class() {
        let mut dir = DirConfig::default();
        dir.set_wrapper(
            crate::config::Wrapper::parse("FcgidWrapper", &["/bin/sh -e".into(), ".php".into()])
                .unwrap(),
        );
        let server = ServerConfig::default();
        let wrapped =
            |t: &Target| class_for(t, &server, dir.wrapper_for(&t.filename.to_string_lossy()));
        let (a, _) = wrapped(&target("/srv/www/a.php")).unwrap();
        let (b, _) = wrapped(&target("/srv/www/sub/b.php")).unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(a.argv, vec![b"/bin/sh".to_vec(), b"-e".to_vec()]);
        let (own, _) = wrapped(&target("/srv/www/c.fcgi")).unwrap();
        assert_ne!(own.key, a.key, "other suffixes are not wrapped");
    }

    #[test]
    fn each_suexec_identity_is_its_own_class_and_runs_as_it() {
        let server = ServerConfig::default();
        let (www, _) = class_for(&target("/srv/a.fcgi"), &server, None).unwrap();
        let site = Target {
            uid: 1001,
            gid: 1002,
            ..target("/srv/a.fcgi")
        };
        let (other, _) = class_for(&site, &server, None).unwrap();
        assert_ne!(www.key, other.key);
        assert_eq!((www.uid, www.gid), (33, 33));
        assert_eq!((other.uid, other.gid), (1001, 1002));
    }

    #[test]
    fn class_key_reads_as_before() {
        let argv = [b"/usr/bin/php-cgi".to_vec(), b"-d\xff".to_vec()];
        assert_eq!(
            class_key(
                (0, u64::MAX),
                &argv,
                VhostId {
                    name: "example.org",
                    port: 80
                },
                33,
                4_294_967_295
            ),
            format!(
                "0:{}|{}|example.org:80|33:4294967295",
                u64::MAX,
                String::from_utf8_lossy(&argv.join(&b' '))
            )
        );
    }

    #[test]
    fn zero_timeouts_mean_never() {
        let server = ServerConfig {
            scalars: crate::config::Scalars {
                idle_timeout: Some(Duration::ZERO),
                process_lifetime: Some(Duration::ZERO),
                ..Default::default()
            },
            ..Default::default()
        };
        let (spec, _) = class_for(&target("/srv/a.fcgi"), &server, None).unwrap();
        assert!(spec.limits.idle_timeout > Duration::from_secs(86400 * 365));
        assert!(spec.limits.lifetime > Duration::from_secs(86400 * 365));
    }
}
