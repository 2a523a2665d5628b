//! Servers that go to the background unless told otherwise: run as a container's main process
//! without their foreground option, they fork, the parent exits 0, and the container stops with
//! it. A small table of the common ones, each with the option that keeps it in the foreground
//! and the options that make it a one-shot command instead (`nginx -t`, `httpd -v`), which
//! finish at once by design.
//!
//! The program is found through the usual wrappers — `exec`, `env`, `tini --`, `dumb-init`,
//! an image's `docker-entrypoint.sh` (which `exec`s its arguments), `busybox APPLET`, and
//! `sh -c '…'` when the script is one simple command. A script that does more (`&`, `;`, pipes,
//! expansions) is not guessed at.
//!
//! One name, two programs: `httpd` is busybox's applet (foreground with `-f`) or Apache's
//! (`-DFOREGROUND`), `crond` busybox's or cronie's. Which one the container runs is told by its
//! executable ([`Program`], read from the image's files by the caller), then by the image's
//! name (`busybox`, `alpine`, `httpd`); when neither tells, an `httpd` finding names both
//! options rather than guess one.

use crate::runtime::executable::Program;

/// How to keep a server in the foreground.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreground {
    /// Add this option: `-g 'daemon off;'`, `-DFOREGROUND`, `-f`.
    Add(&'static str),
    /// Remove this option, which sends it to the background: `--daemonize yes`.
    Drop(&'static str),
    /// Run this command instead (`apachectl start` → `apachectl -DFOREGROUND`).
    Instead(&'static str),
    /// One program name, two programs that could not be told apart: add the option of the one
    /// the image holds, given as (program, option) pairs.
    OneOf(&'static [(&'static str, &'static str)]),
}

/// An `httpd` that is busybox's or Apache's, the image does not tell which.
const EITHER_HTTPD: &[(&str, &str)] = &[("busybox httpd", "-f"), ("Apache httpd", "-DFOREGROUND")];

/// A known server that goes to the background as it was run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// The program as a finding names it: `nginx`, `busybox httpd`, `sshd`.
    pub program: &'static str,
    pub foreground: Foreground,
}

/// The program `argv` runs, as it names it (`httpd`, `/usr/sbin/httpd`), when its name stands
/// for two programs that only the executable tells apart (`httpd`, `crond`): the caller reads
/// what it is from the image's files and passes it to [`daemonizing_server`]. `None` for any
/// other program, and for `busybox APPLET`, which says what it is.
pub fn program_to_identify(argv: &[String]) -> Option<String> {
    let words = program_words(argv)?;
    let first = words.first()?;
    matches!(basename(first), "httpd" | "crond").then(|| first.clone())
}

/// The known server `argv` (a container's entrypoint and command) runs, when it runs one in a
/// way that goes to the background; `None` for anything else — another program, a server in the
/// foreground, a one-shot use of a server (`nginx -t`). `exe` is what the program's executable
/// is in the container ([`program_to_identify`]); when it does not tell, `image` (as the user
/// named it) does for busybox's and Alpine's `httpd` and `crond` and for Apache's `httpd` image,
/// and an `httpd` in any other image gets both options named.
pub fn daemonizing_server(image: &str, argv: &[String], exe: Program) -> Option<Server> {
    let words = program_words(argv)?;
    let (first, mut args) = words.split_first()?;
    let mut name = basename(first);
    let repo = image_repo(image);
    let mut busybox = match exe {
        Program::Busybox => true,
        Program::Apache => false,
        Program::Unknown => matches!(repo, "busybox" | "alpine"),
    };
    let apache_known = exe == Program::Apache || (exe == Program::Unknown && repo == "httpd");
    if name == "busybox" {
        let (applet, rest) = args.split_first()?;
        name = basename(applet);
        args = rest;
        busybox = true;
    }
    match name {
        "nginx" => nginx(args),
        "httpd" if busybox => busybox_httpd(args),
        "httpd" if apache_known => apache("httpd", args),
        // Flagged only when both would go to the background as run: `httpd -f` is busybox's in
        // the foreground, and an Apache started with only a config file; not a finding either way.
        "httpd" => {
            busybox_httpd(args)?;
            apache("httpd", args)?;
            server("httpd", Foreground::OneOf(EITHER_HTTPD))
        }
        "apache2" => apache("apache2", args),
        "apachectl" => apachectl("apachectl", "apachectl -DFOREGROUND", args),
        "apache2ctl" => apachectl("apache2ctl", "apache2ctl -DFOREGROUND", args),
        "sshd" => sshd(args),
        "crond" if busybox => with_flag(args, "lLcd", &[], &['f'], "crond", "-f"),
        // cronie (Fedora, RHEL, Arch): `-n` keeps it in the foreground.
        "crond" => with_flag(args, "mx", &['V', 'h'], &['n', 'f'], "crond", "-n"),
        // Debian's cron.
        "cron" => with_flag(args, "Lx", &[], &['f'], "cron", "-f"),
        "redis-server" => redis(args),
        n if is_php_fpm(n) => php_fpm(args),
        _ => None,
    }
}

/// The words of the program `argv` really runs, through the wrappers the module doc lists.
fn program_words(argv: &[String]) -> Option<Vec<String>> {
    let mut words: Vec<String> = argv.to_vec();
    // A few layers at most: `tini -- sh -c 'exec nginx'`.
    for _ in 0..6 {
        let base = basename(words.first()?);
        let skip = match base {
            "exec" => 1,
            "env" => {
                1 + words[1..]
                    .iter()
                    .take_while(|w| w.starts_with('-') || is_assignment(w))
                    .count()
            }
            "tini" | "tini-static" | "dumb-init" => match words.iter().position(|w| w == "--") {
                Some(p) => p + 1,
                None => 1 + words[1..].iter().take_while(|w| w.starts_with('-')).count(),
            },
            b if b.ends_with("entrypoint.sh") || b.ends_with("entrypoint") => 1,
            "sh" | "bash" | "ash" | "dash" | "ksh" | "zsh" => {
                if words.get(1).map(String::as_str) != Some("-c") {
                    return Some(words);
                }
                words = simple_command(words.get(2)?)?;
                continue;
            }
            _ => return Some(words),
        };
        words.drain(..skip.min(words.len()));
    }
    None
}

/// The words of a shell script that is one simple command (`nginx -g 'daemon off;'`,
/// `exec httpd -p 80`, `A=b nginx`), quotes removed and leading assignments dropped; `None`
/// for anything more — a list, a pipe, `&`, a redirection, an expansion, a glob, a comment.
fn simple_command(script: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = script.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '$' | '`' | '\\' => return None,
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => return None,
            ';' | '&' | '|' | '<' | '>' | '(' | ')' | '$' | '`' | '\n' | '\r' | '*' | '?' | '['
            | '{' | '}' | '~' => return None,
            x => {
                in_word = true;
                cur.push(x);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    let assignments = words.iter().take_while(|w| is_assignment(w)).count();
    words.drain(..assignments);
    (!words.is_empty()).then_some(words)
}

/// `NAME=value`, as a shell or `env` reads it before the program.
fn is_assignment(w: &str) -> bool {
    w.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The repository's last path component: `busybox` for `docker.io/library/busybox:1.36`.
fn image_repo(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// `php-fpm`, `php-fpm8.2`, `php7.4-fpm`.
fn is_php_fpm(name: &str) -> bool {
    name.starts_with("php-fpm") || (name.starts_with("php") && name.ends_with("-fpm"))
}

/// Options as getopt reads them: short letters in clusters (`-fp 80`), a value attached or in
/// the next word for the letters that take one; long options as `--name`, `--name=value`, or
/// `--name value` for those that take one. `--` ends them.
#[derive(Debug, Default)]
struct Opts<'a> {
    short: Vec<(char, Option<&'a str>)>,
    long: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Opts<'a> {
    fn parse(args: &'a [String], short_values: &str, long_values: &[&str]) -> Opts<'a> {
        let mut o = Opts::default();
        let mut i = 0;
        let next = |i: &mut usize| {
            let v = args.get(*i).map(String::as_str);
            *i += usize::from(v.is_some());
            v
        };
        while i < args.len() {
            let a = args[i].as_str();
            i += 1;
            if a == "--" {
                break;
            }
            if let Some(long) = a.strip_prefix("--") {
                let (k, v) = match long.split_once('=') {
                    Some((k, v)) => (k, Some(v)),
                    None if long_values.contains(&long) => (long, next(&mut i)),
                    None => (long, None),
                };
                o.long.push((k, v));
            } else if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) {
                for (pos, ch) in cluster.char_indices() {
                    if short_values.contains(ch) {
                        let rest = &cluster[pos + ch.len_utf8()..];
                        let v = if rest.is_empty() {
                            next(&mut i)
                        } else {
                            Some(rest)
                        };
                        o.short.push((ch, v));
                        break;
                    }
                    o.short.push((ch, None));
                }
            }
        }
        o
    }

    fn any(&self, letters: &[char]) -> bool {
        self.short.iter().any(|(c, _)| letters.contains(c))
    }

    fn values(&self, letter: char) -> impl Iterator<Item = &'a str> + '_ {
        self.short
            .iter()
            .filter(move |(c, _)| *c == letter)
            .filter_map(|(_, v)| *v)
    }

    fn long(&self, names: &[&str]) -> bool {
        self.long.iter().any(|(k, _)| names.contains(k))
    }

    /// `--help`, `--version`: every server prints and exits.
    fn asks_and_exits(&self) -> bool {
        self.long(&["help", "version"])
    }
}

fn server(program: &'static str, foreground: Foreground) -> Option<Server> {
    Some(Server {
        program,
        foreground,
    })
}

/// A server that stays in the foreground with one of `fg` and is a one-shot command with one of
/// `once`.
fn with_flag(
    args: &[String],
    short_values: &str,
    once: &[char],
    fg: &[char],
    program: &'static str,
    add: &'static str,
) -> Option<Server> {
    let o = Opts::parse(args, short_values, &[]);
    if o.asks_and_exits() || o.any(once) || o.any(fg) {
        return None;
    }
    server(program, Foreground::Add(add))
}

/// nginx: `daemon on;` is its default; `-g 'daemon off;'` (what the official image runs) keeps
/// it in the foreground. `-t`, `-T`, `-v`, `-V`, `-h`, `-s SIGNAL` do their thing and exit.
fn nginx(args: &[String]) -> Option<Server> {
    let o = Opts::parse(args, "cegps", &[]);
    if o.asks_and_exits() || o.any(&['?', 'h', 'v', 'V', 't', 'T', 's']) {
        return None;
    }
    let daemon_off = o.values('g').any(|g| {
        let g: String = g.split_whitespace().collect();
        g.to_ascii_lowercase().contains("daemonoff")
    });
    if daemon_off {
        return None;
    }
    server("nginx", Foreground::Add("-g 'daemon off;'"))
}

/// Apache's httpd: `-DFOREGROUND` (or `-DNO_DETACH`, `-DONE_PROCESS`, `-X`) keeps it in the
/// foreground; `-v`, `-V`, `-t`, `-S`, `-l`, `-L`, `-M`, `-h` print and exit, as does `-k` with
/// anything but start, restart or graceful (which start a server when none runs).
fn apache(program: &'static str, args: &[String]) -> Option<Server> {
    let o = Opts::parse(args, "CcDdEfkRnw", &[]);
    if o.asks_and_exits() || o.any(&['v', 'V', 't', 'S', 'l', 'L', 'M', 'h', '?']) {
        return None;
    }
    if o.values('k')
        .any(|k| !matches!(k, "start" | "restart" | "graceful"))
    {
        return None;
    }
    let fg = o.any(&['X'])
        || o.values('D')
            .any(|d| matches!(d, "FOREGROUND" | "NO_DETACH" | "ONE_PROCESS"));
    if fg {
        return None;
    }
    server(program, Foreground::Add("-DFOREGROUND"))
}

/// apachectl: with no arguments, or `start`, `restart`, `graceful`, it starts httpd in the
/// background; its other verbs (stop, configtest, status) finish; options go to httpd.
fn apachectl(program: &'static str, instead: &'static str, args: &[String]) -> Option<Server> {
    match args.first().map(String::as_str) {
        None | Some("start" | "restart" | "graceful") => {
            server(program, Foreground::Instead(instead))
        }
        Some(verb) if !verb.starts_with('-') => None,
        Some(_) => apache(program, args),
    }
}

/// busybox's httpd: `-f` keeps it in the foreground; `-d`, `-e`, `-m` decode, encode or hash a
/// string and exit; `-i` serves one request on stdin (inetd).
fn busybox_httpd(args: &[String]) -> Option<Server> {
    let o = Opts::parse(args, "puhrcmed", &[]);
    if o.asks_and_exits() || o.any(&['d', 'e', 'm', 'i', 'f']) {
        return None;
    }
    server("busybox httpd", Foreground::Add("-f"))
}

/// OpenSSH's sshd: `-D` keeps it in the foreground (`-d` too, for one connection); `-t`, `-T`,
/// `-G`, `-V` check or print and exit; `-i` serves one connection on stdin (inetd).
fn sshd(args: &[String]) -> Option<Server> {
    with_flag(
        args,
        "bcCEfghkoOpu",
        &['t', 'T', 'G', 'V', 'i'],
        &['D', 'd'],
        "sshd",
        "-D",
    )
}

/// php-fpm: goes to the background unless `-F` (`--nodaemonize`), or its config says
/// `daemonize = no` (the official image's does: there it does not exit). `-t`, `-v`, `-i`, `-m`,
/// `-h` print and exit.
fn php_fpm(args: &[String]) -> Option<Server> {
    let o = Opts::parse(
        args,
        "cdgpy",
        &["php-ini", "define", "pid", "prefix", "fpm-config"],
    );
    if o.asks_and_exits()
        || o.any(&['t', 'v', 'i', 'm', 'h', '?'])
        || o.long(&["test", "info", "modules"])
    {
        return None;
    }
    if o.any(&['F']) || o.long(&["nodaemonize"]) {
        return None;
    }
    server("php-fpm", Foreground::Add("-F"))
}

/// redis-server stays in the foreground unless told `--daemonize yes` (on its command line; a
/// config file saying so cannot be seen from here).
fn redis(args: &[String]) -> Option<Server> {
    let o = Opts::parse(args, "", &["daemonize"]);
    let daemonize = o
        .long
        .iter()
        .rev()
        .find(|(k, _)| *k == "daemonize")
        .and_then(|(_, v)| *v)
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    if o.asks_and_exits() || !daemonize {
        return None;
    }
    server("redis-server", Foreground::Drop("--daemonize yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn servers_that_go_to_the_background() {
        use Foreground::*;
        let s = |program, foreground| {
            Some(Server {
                program,
                foreground,
            })
        };
        // (image, entrypoint + command) → the server that went to the background
        let cases: &[(&str, &[&str], Option<Server>)] = &[
            // nginx
            ("nginx", &["nginx"], s("nginx", Add("-g 'daemon off;'"))),
            (
                "nginx",
                &["/docker-entrypoint.sh", "nginx"],
                s("nginx", Add("-g 'daemon off;'")),
            ),
            (
                "nginx",
                &["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"],
                None,
            ),
            (
                "nginx",
                &["nginx", "-g", "pid /tmp/n.pid; daemon  off;"],
                None,
            ),
            ("nginx", &["nginx", "-gdaemon off;"], None),
            (
                "nginx",
                &["nginx", "-c", "/etc/nginx/alt.conf"],
                s("nginx", Add("-g 'daemon off;'")),
            ),
            ("nginx", &["nginx", "-t"], None),
            ("nginx", &["nginx", "-V"], None),
            ("nginx", &["nginx", "-s", "reload"], None),
            ("nginx", &["/usr/sbin/nginx", "-qt"], None),
            ("nginx", &["nginx", "--help"], None),
            // Apache
            ("httpd", &["httpd"], s("httpd", Add("-DFOREGROUND"))),
            ("httpd", &["httpd", "-DFOREGROUND"], None),
            ("httpd", &["httpd", "-D", "FOREGROUND"], None),
            ("httpd", &["httpd", "-X"], None),
            (
                "httpd",
                &["httpd", "-f", "/etc/httpd.conf"],
                s("httpd", Add("-DFOREGROUND")),
            ),
            (
                "httpd",
                &["httpd", "-k", "start"],
                s("httpd", Add("-DFOREGROUND")),
            ),
            ("httpd", &["httpd", "-k", "stop"], None),
            ("httpd", &["httpd", "-v"], None),
            ("httpd", &["httpd", "-t"], None),
            ("httpd", &["httpd-foreground"], None),
            (
                "debian",
                &["apache2ctl", "start"],
                s("apache2ctl", Instead("apache2ctl -DFOREGROUND")),
            ),
            (
                "debian",
                &["apachectl"],
                s("apachectl", Instead("apachectl -DFOREGROUND")),
            ),
            ("debian", &["apachectl", "-D", "FOREGROUND"], None),
            ("debian", &["apachectl", "configtest"], None),
            (
                "debian",
                &["apache2", "-k", "start"],
                s("apache2", Add("-DFOREGROUND")),
            ),
            // busybox's httpd, by image or by `busybox httpd`
            (
                "busybox",
                &["httpd", "-p", "8080"],
                s("busybox httpd", Add("-f")),
            ),
            (
                "busybox:1.36",
                &["httpd", "-p", "8080"],
                s("busybox httpd", Add("-f")),
            ),
            (
                "docker.io/library/alpine:3.20",
                &["httpd"],
                s("busybox httpd", Add("-f")),
            ),
            (
                "debian",
                &["busybox", "httpd", "-p", "80"],
                s("busybox httpd", Add("-f")),
            ),
            ("busybox", &["httpd", "-f", "-p", "8080"], None),
            ("busybox", &["httpd", "-fvp", "8080"], None),
            ("busybox", &["httpd", "-p", "8080", "-f"], None),
            ("busybox", &["httpd", "-m", "secret"], None),
            ("busybox", &["httpd", "-d", "a%20b"], None),
            // A value that looks like the foreground option is a value.
            (
                "busybox",
                &["httpd", "-h", "-f"],
                s("busybox httpd", Add("-f")),
            ),
            // sshd
            ("sshd", &["/usr/sbin/sshd"], s("sshd", Add("-D"))),
            ("sshd", &["/usr/sbin/sshd", "-D", "-e"], None),
            ("sshd", &["/usr/sbin/sshd", "-De"], None),
            ("sshd", &["/usr/sbin/sshd", "-t"], None),
            (
                "sshd",
                &["/usr/sbin/sshd", "-p", "2222"],
                s("sshd", Add("-D")),
            ),
            // cron
            ("alpine", &["crond"], s("crond", Add("-f"))),
            ("alpine", &["crond", "-f", "-l", "2"], None),
            ("alpine", &["crond", "-l", "2", "-f"], None),
            ("fedora", &["crond"], s("crond", Add("-n"))),
            ("fedora", &["crond", "-n"], None),
            ("debian", &["cron"], s("cron", Add("-f"))),
            ("debian", &["cron", "-f"], None),
            // php-fpm
            ("php", &["php-fpm"], s("php-fpm", Add("-F"))),
            ("php", &["php-fpm8.2", "-R"], s("php-fpm", Add("-F"))),
            ("debian", &["php7.4-fpm"], s("php-fpm", Add("-F"))),
            ("php", &["php-fpm", "-F"], None),
            ("php", &["php-fpm", "--nodaemonize"], None),
            ("php", &["php-fpm", "-t"], None),
            (
                "php",
                &["php-fpm", "--fpm-config", "/x.conf"],
                s("php-fpm", Add("-F")),
            ),
            // redis: only when told to daemonize
            ("redis", &["redis-server"], None),
            (
                "redis",
                &["redis-server", "--daemonize", "yes"],
                s("redis-server", Drop("--daemonize yes")),
            ),
            (
                "redis",
                &["redis-server", "/etc/redis.conf", "--daemonize", "YES"],
                s("redis-server", Drop("--daemonize yes")),
            ),
            ("redis", &["redis-server", "--daemonize", "no"], None),
            // Through the wrappers.
            (
                "nginx",
                &["sh", "-c", "nginx"],
                s("nginx", Add("-g 'daemon off;'")),
            ),
            (
                "nginx",
                &["/bin/sh", "-c", "exec nginx -g 'daemon off;'"],
                None,
            ),
            (
                "nginx",
                &["sh", "-c", "exec nginx -g \"daemon off;\""],
                None,
            ),
            (
                "nginx",
                &["sh", "-c", "A=1 B=2 exec nginx\n"],
                s("nginx", Add("-g 'daemon off;'")),
            ),
            (
                "busybox",
                &["tini", "--", "httpd", "-p", "80"],
                s("busybox httpd", Add("-f")),
            ),
            (
                "busybox",
                &["/sbin/tini", "-s", "httpd"],
                s("busybox httpd", Add("-f")),
            ),
            (
                "busybox",
                &["dumb-init", "httpd"],
                s("busybox httpd", Add("-f")),
            ),
            (
                "nginx",
                &["env", "-i", "A=b", "nginx"],
                s("nginx", Add("-g 'daemon off;'")),
            ),
            (
                "nginx",
                &["exec", "nginx"],
                s("nginx", Add("-g 'daemon off;'")),
            ),
            // Scripts that do more are not guessed at.
            ("nginx", &["sh", "-c", "nginx; sleep 1"], None),
            ("nginx", &["sh", "-c", "nginx &"], None),
            ("nginx", &["sh", "-c", "$SERVER"], None),
            ("nginx", &["sh", "-c", "nginx -c \"$CONF\""], None),
            ("nginx", &["sh", "-c", "echo a\nnginx"], None),
            ("nginx", &["sh", "-c", "'unterminated"], None),
            ("nginx", &["bash", "start.sh"], None),
            // Not servers, or nothing at all.
            ("busybox", &["true"], None),
            ("busybox", &["sh", "-c", "echo done"], None),
            ("busybox", &["sleep", "300"], None),
            ("busybox", &[], None),
            ("busybox", &["busybox"], None),
            ("busybox", &["sh", "-c", ""], None),
            ("busybox", &["sh", "-c"], None),
            ("nginx", &["/docker-entrypoint.sh"], None),
        ];
        for (image, argv, want) in cases {
            assert_eq!(
                daemonizing_server(image, &strs(argv), Program::Unknown),
                *want,
                "{image} {argv:?}"
            );
        }
    }

    #[test]
    fn the_executable_tells_busybox_httpd_from_apache() {
        use Foreground::*;
        let bb = Some(Server {
            program: "busybox httpd",
            foreground: Add("-f"),
        });
        let apache = Some(Server {
            program: "httpd",
            foreground: Add("-DFOREGROUND"),
        });
        let both = Some(Server {
            program: "httpd",
            foreground: OneOf(EITHER_HTTPD),
        });
        // (image as named, argv, what the executable is) → the server and its option
        let cases: &[(&str, &[&str], Program, Option<Server>)] = &[
            // The case users met: `FROM busybox` under another name said "-DFOREGROUND".
            (
                "myorg/site:1",
                &["httpd", "-p", "8081"],
                Program::Busybox,
                bb,
            ),
            (
                "myorg/site:1",
                &["/bin/httpd", "-p", "8081"],
                Program::Busybox,
                bb,
            ),
            // The files win over the name: Apache installed on Alpine, busybox named "httpd".
            ("alpine", &["httpd"], Program::Apache, apache),
            ("httpd", &["httpd", "-p", "80"], Program::Busybox, bb),
            // Nothing tells: both options, and only when both would go to the background.
            (
                "myorg/site:1",
                &["httpd", "-p", "8081"],
                Program::Unknown,
                both,
            ),
            ("myorg/site:1", &["httpd"], Program::Unknown, both),
            (
                "myorg/site:1",
                &["httpd", "-f", "-p", "80"],
                Program::Unknown,
                None,
            ),
            (
                "myorg/site:1",
                &["httpd", "-DFOREGROUND"],
                Program::Unknown,
                None,
            ),
            ("myorg/site:1", &["httpd", "-v"], Program::Unknown, None),
            // The name alone, as before, when the files say nothing.
            ("busybox", &["httpd", "-p", "8081"], Program::Unknown, bb),
            ("httpd:2.4", &["httpd"], Program::Unknown, apache),
            // `busybox httpd` says what it is, whatever the files.
            ("debian", &["busybox", "httpd"], Program::Apache, bb),
            // crond: busybox's `-f`, cronie's `-n`.
            (
                "myorg/cron",
                &["crond"],
                Program::Busybox,
                Some(Server {
                    program: "crond",
                    foreground: Add("-f"),
                }),
            ),
            (
                "myorg/cron",
                &["crond"],
                Program::Unknown,
                Some(Server {
                    program: "crond",
                    foreground: Add("-n"),
                }),
            ),
        ];
        for (image, argv, exe, want) in cases {
            assert_eq!(
                daemonizing_server(image, &strs(argv), *exe),
                *want,
                "{image} {argv:?} {exe:?}"
            );
        }
    }

    #[test]
    fn only_ambiguous_programs_are_looked_up() {
        for (argv, want) in [
            (&["httpd", "-p", "80"][..], Some("httpd")),
            (&["/usr/sbin/httpd"][..], Some("/usr/sbin/httpd")),
            (&["sh", "-c", "exec httpd -p 80"][..], Some("httpd")),
            (&["tini", "--", "crond"][..], Some("crond")),
            (&["busybox", "httpd"][..], None),
            (&["nginx"][..], None),
            (&[][..], None),
        ] {
            assert_eq!(
                program_to_identify(&strs(argv)).as_deref(),
                want,
                "{argv:?}"
            );
        }
    }

    #[test]
    fn image_repositories() {
        for (image, want) in [
            ("busybox", "busybox"),
            ("busybox:latest", "busybox"),
            ("docker.io/library/busybox:1.36", "busybox"),
            ("localhost:5000/team/alpine:3", "alpine"),
            ("alpine@sha256:abc", "alpine"),
            ("sha256:abc", "sha256"),
            ("", ""),
        ] {
            assert_eq!(image_repo(image), want, "{image}");
        }
    }

    #[test]
    fn assignments() {
        for (w, want) in [
            ("A=b", true),
            ("_X1=", true),
            ("PATH=/bin:/usr/bin", true),
            ("=x", false),
            ("1A=b", false),
            ("a-b=c", false),
            ("--opt=x", false),
            ("nginx", false),
        ] {
            assert_eq!(is_assignment(w), want, "{w}");
        }
    }
}
