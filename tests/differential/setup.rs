//! One server of the pair: the shared configuration and docroot layout,
//! with its own server root, ports and module.

use super::cases::Case;
use super::client;
use super::normalize;
use crate::common::{self, Httpd, Mpm, MODULES};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

/// Appended to the harness's base config (event MPM, DocumentRoot www/
/// with ExecCGI and `.fcgi` as fcgid-script). {ROOT} is the server root,
/// {PORT2} the virtual host's port.
const CONF: &str = r#"
LoadModule alias_module {MODULES}/mod_alias.so
LoadModule env_module {MODULES}/mod_env.so
LoadModule unique_id_module {MODULES}/mod_unique_id.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule headers_module {MODULES}/mod_headers.so
FileETag None
# Debian builds C mod_fcgid with /var/lib/apache2/fcgid as its default.
FcgidIPCDir {ROOT}/logs/fcgidsock
FcgidProcessTableFile {ROOT}/logs/fcgid_shm
SetEnv DIFF_SETENV from-mod-env
FcgidPassHeader X-Pass-Me
FcgidPassHeader Authorization
# The request's own environment, as a LogFormat's %{X-Pass-Me}e reads it.
Header set X-Env-Pass-Me "%{X-Pass-Me}e" "expr=%{QUERY_STRING} == 'reqenv'"
Header set X-Env-X_Pass_Me "%{X_Pass_Me}e" "expr=%{QUERY_STRING} == 'reqenv'"
FcgidInitialEnv DIFF_INITIAL main
FcgidInitialEnv DIFF_INITIAL_EMPTY
<Directory {ROOT}/www/oddenv>
  SetEnv odd-name.x dashes-and-dots
  SetEnv 9lives starts-with-a-digit
</Directory>
<Directory {ROOT}/www/wrapnoperm>
  AddHandler fcgid-script .wr
  FcgidWrapper {ROOT}/www/noperm.fcgi .wr
</Directory>
FcgidCmdOptions {ROOT}/www/cmdopts/diffenv.fcgi InitialEnv CMD_OPTION=set MaxProcesses 2
<Directory {ROOT}/www/noexec>
  Options -ExecCGI
</Directory>
ScriptAlias /sa/ {ROOT}/www/sa/
<Directory {ROOT}/www/sa>
  Options -ExecCGI
  SetHandler fcgid-script
  Require all granted
</Directory>
<Directory {ROOT}/www/apioff>
  AcceptPathInfo Off
</Directory>
<Directory {ROOT}/www/limit>
  LimitRequestBody 100
</Directory>
<Directory {ROOT}/www/wrap>
  AddHandler fcgid-script .wr
  FcgidWrapper "{ROOT}/www/diffenv.fcgi wrapped arg" .wr
</Directory>
<Location /virt>
  SetHandler fcgid-script
  FcgidWrapper {ROOT}/www/diffenv.fcgi virtual
</Location>
<Directory {ROOT}/www/php>
  AddHandler fcgid-script .php
  FcgidWrapper /usr/bin/php-cgi .php
</Directory>
<Directory {ROOT}/www/perl>
  AddHandler fcgid-script .pl
</Directory>
<Directory {ROOT}/www/private>
  AuthType Basic
  AuthName diff
  FcgidAuthenticator {ROOT}/www/authenv.fcgi
  FcgidAuthorizer {ROOT}/www/authenv.fcgi
  FcgidAccessChecker {ROOT}/www/authenv.fcgi
  Require valid-user
</Directory>
<Directory {ROOT}/www/authoff>
  AuthType Basic
  AuthName off
  FcgidAuthenticator {ROOT}/www/authenv.fcgi
  FcgidAuthenticatorAuthoritative Off
  Require valid-user
</Directory>
<Directory {ROOT}/www/access>
  FcgidAccessChecker {ROOT}/www/authenv.fcgi
</Directory>
<Directory {ROOT}/www/errdoc>
  ErrorDocument 404 /diffenv.fcgi?errordocument
  ErrorDocument 500 /diffenv.fcgi?errordocument500
</Directory>
Listen 127.0.0.1:{PORT2}
<VirtualHost 127.0.0.1:{PORT2}>
  ServerName vh.example
  DocumentRoot {ROOT}/www
  FcgidInitialEnv DIFF_INITIAL vhost
  FcgidInitialEnv DIFF_VHOST_ONLY yes
  FcgidPassHeader X-Vhost-Pass
  FcgidMaxRequestLen 1000
</VirtualHost>
"#;

pub struct Server {
    pub httpd: Httpd,
    pub port2: u16,
    root: String,
}

fn copy_exec(from: &Path, to: &Path) {
    fs::copy(from, to).unwrap_or_else(|e| panic!("copy to {}: {e}", to.display()));
}

fn run(cmd: &mut Command) {
    assert!(cmd.status().unwrap().success(), "{cmd:?}");
}

impl Server {
    /// Builds the layout under a fresh server root, loads `module` as
    /// fcgid_module, adds `variant` to the configuration and starts httpd.
    pub fn start(label: &str, module: &Path, variant: &str) -> Server {
        let httpd = Httpd::new(label, Mpm::Event, &["diffenv", "authenv"], "");
        let root = httpd.root.to_string_lossy().into_owned();
        let www = httpd.www();
        let app = www.join("diffenv.fcgi");
        // Directories with a copy of the app (each its own class), and others.
        const WITH_APP: [&str; 11] = [
            "noexec", "sa", "apioff", "limit", "private", "oddenv", "crash", "cmdopts", "authoff",
            "access", "errdoc",
        ];
        for dir in WITH_APP {
            fs::create_dir_all(www.join(dir)).unwrap();
            copy_exec(&app, &www.join(dir).join("diffenv.fcgi"));
        }
        for dir in ["wrap", "wrapnoperm", "php", "perl"] {
            fs::create_dir_all(www.join(dir)).unwrap();
        }
        copy_exec(&app, &www.join("noperm.fcgi"));
        run(Command::new("chmod")
            .arg("644")
            .arg(www.join("noperm.fcgi")));
        // Executable by its owner, root, only: not by the server's user.
        copy_exec(&app, &www.join("owneronly.fcgi"));
        run(Command::new("chmod")
            .arg("700")
            .arg(www.join("owneronly.fcgi")));
        run(Command::new("mkfifo").arg(www.join("fifo.fcgi")));
        fs::create_dir_all(www.join("dir.fcgi")).unwrap();
        fs::write(www.join("static.txt"), "a static file\n").unwrap();
        fs::write(www.join("wrap/page.wr"), "the wrapper reads this\n").unwrap();
        fs::write(www.join("wrapnoperm/page.wr"), "never read\n").unwrap();
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps");
        for php in ["env.php", "info.php"] {
            fs::copy(apps.join(php), www.join("php").join(php)).unwrap();
        }
        copy_exec(&apps.join("counter.pl"), &www.join("perl/counter.pl"));
        run(Command::new("chmod")
            .arg("755")
            .arg(www.join("perl/counter.pl")));
        // File names that are not UTF-8 (Latin-1 bytes), and one that is.
        let latin1 = |name: &[u8]| www.join(std::ffi::OsStr::from_bytes(name));
        copy_exec(&app, &latin1(b"caf\xe9.fcgi"));
        fs::create_dir_all(latin1(b"d\xe9j\xe0")).unwrap();
        copy_exec(&app, &latin1(b"d\xe9j\xe0/diffenv.fcgi"));
        copy_exec(&app, &www.join("über.fcgi"));
        // The same modification times in both trees (Last-Modified of static.txt).
        run(Command::new("touch")
            .args(["-h", "-d", "2020-02-02 02:02:02 UTC"])
            .arg(www.join("static.txt")));

        let module_line = format!(
            "LoadModule fcgid_module {}",
            common::module_path().display()
        );
        let port2 = common::free_port();
        let text = fs::read_to_string(&httpd.conf).unwrap().replace(
            &module_line,
            &format!("LoadModule fcgid_module {}", module.display()),
        );
        let extra = CONF
            .replace("{MODULES}", MODULES)
            .replace("{ROOT}", &root)
            .replace("{PORT2}", &port2.to_string());
        fs::write(&httpd.conf, text + &extra + variant).unwrap();
        let httpd = httpd.start();
        Server { httpd, port2, root }
    }

    fn port_for(&self, case: &Case) -> u16 {
        if case.vhost {
            self.port2
        } else {
            self.httpd.port
        }
    }

    fn answer(&self, case: &Case) -> String {
        let log = self.httpd.root.join("logs/error.log");
        let before = fs::metadata(&log).map_or(0, |m| m.len()) as usize;
        let started = std::time::Instant::now();
        let resp = client::send(self.port_for(case), &case.request());
        let took = started.elapsed();
        if took > std::time::Duration::from_secs(3) {
            eprintln!(
                "differential: {} took {:.1} s on {}",
                case.name,
                took.as_secs_f64(),
                self.root
            );
        }
        let mut text = normalize::render(&resp, &self.root, self.httpd.port, self.port2);
        // The app's STDERR as the error log got it during this request (the
        // module logs it before the answer ends).
        let logged = fs::read(&log).unwrap_or_default();
        for line in String::from_utf8_lossy(&logged[before.min(logged.len())..]).lines() {
            if let Some((_, msg)) = line.split_once("mod_fcgid: stderr: ") {
                text.push_str(&format!("\nlog: stderr: {msg}"));
            }
        }
        text
    }

    /// Every case's normalized answer, one case after the other.
    pub fn run(&self, cases: &[Case]) -> BTreeMap<&'static str, String> {
        cases.iter().map(|c| (c.name, self.answer(c))).collect()
    }
}
