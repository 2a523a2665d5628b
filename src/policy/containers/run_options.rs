//! `docker run` / `docker create` options that ended up as the container's command: everything
//! after the image is the command, so `docker create nginx --name=nginx` runs `--name=nginx`.

use crate::runtime::inventory::ContainerRecord;

/// A `docker run` / `docker create` option: long name, short letter, whether it takes a value,
/// and whether the long name is Docker's own (unlikely to be a program's flag).
struct DockerFlag {
    long: &'static str,
    short: Option<char>,
    value: bool,
    distinctive: bool,
}

const fn f(long: &'static str, short: Option<char>, value: bool, distinctive: bool) -> DockerFlag {
    DockerFlag {
        long,
        short,
        value,
        distinctive,
    }
}

/// The options of `docker run` that matter here (docker/cli `opts.go`), most used first.
const DOCKER_FLAGS: &[DockerFlag] = &[
    f("name", None, true, true),
    f("detach", Some('d'), false, true),
    f("rm", None, false, true),
    f("interactive", Some('i'), false, true),
    f("tty", Some('t'), false, true),
    f("publish", Some('p'), true, true),
    f("publish-all", Some('P'), false, true),
    f("env", Some('e'), true, false),
    f("env-file", None, true, true),
    f("volume", Some('v'), true, false),
    f("volumes-from", None, true, true),
    f("mount", None, true, false),
    f("restart", None, true, true),
    f("network", None, true, true),
    f("net", None, true, true),
    f("network-alias", None, true, true),
    f("workdir", Some('w'), true, false),
    f("user", Some('u'), true, false),
    f("entrypoint", None, true, true),
    f("memory", Some('m'), true, false),
    f("memory-swap", None, true, true),
    f("cpus", None, true, true),
    f("cpu-shares", Some('c'), true, true),
    f("cpuset-cpus", None, true, true),
    f("privileged", None, false, true),
    f("log-driver", None, true, true),
    f("log-opt", None, true, true),
    f("label", Some('l'), true, false),
    f("label-file", None, true, true),
    f("hostname", Some('h'), true, false),
    f("add-host", None, true, true),
    f("cap-add", None, true, true),
    f("cap-drop", None, true, true),
    f("device", None, true, false),
    f("dns", None, true, false),
    f("expose", None, true, true),
    f("link", None, true, false),
    f("pid", None, true, false),
    f("ipc", None, true, true),
    f("init", None, false, false),
    f("read-only", None, false, false),
    f("security-opt", None, true, true),
    f("shm-size", None, true, true),
    f("stop-signal", None, true, true),
    f("stop-timeout", None, true, true),
    f("tmpfs", None, true, false),
    f("ulimit", None, true, true),
    f("platform", None, true, false),
    f("pull", None, true, false),
    f("gpus", None, true, true),
    f("health-cmd", None, true, true),
    f("health-interval", None, true, true),
    f("health-retries", None, true, true),
    f("no-healthcheck", None, false, true),
    f("group-add", None, true, true),
    f("runtime", None, true, true),
    f("sysctl", None, true, true),
    f("attach", Some('a'), true, false),
    f("sig-proxy", None, false, true),
    f("oom-kill-disable", None, false, true),
    f("pids-limit", None, true, true),
    f("userns", None, true, true),
    f("cgroupns", None, true, true),
    f("ip", None, true, false),
    f("mac-address", None, true, true),
];

/// How many leading arguments are `docker run` options (with their values), and whether at
/// least one of them is one no program would use (`distinctive`). Stops at the first argument
/// that is not a known option.
fn leading_flags(args: &[String]) -> (usize, bool) {
    let mut i = 0;
    let mut distinctive = false;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, _)) => (n, true),
                None => (long, false),
            };
            let Some(flag) = DOCKER_FLAGS.iter().find(|f| f.long == name) else {
                break;
            };
            // An option whose value is missing is no option given after the image: moving it
            // before the image would make the image its value.
            let needs = usize::from(flag.value && !inline);
            if i + needs >= args.len() {
                break;
            }
            distinctive |= flag.distinctive;
            i += 1 + needs;
        } else if let Some(cluster) = a.strip_prefix('-').filter(|c| !c.is_empty()) {
            // `-it`, `-d`, `-p80:80`, `-dp 80:80`: letters until one that takes a value.
            let mut takes_next = false;
            let mut known = true;
            let mut letters = 0;
            for (pos, ch) in cluster.char_indices() {
                let Some(flag) = DOCKER_FLAGS.iter().find(|f| f.short == Some(ch)) else {
                    known = false;
                    break;
                };
                letters += 1;
                if flag.value {
                    takes_next = pos + ch.len_utf8() == cluster.len();
                    break;
                }
            }
            if !known || letters == 0 {
                break;
            }
            let needs = usize::from(takes_next);
            if i + needs >= args.len() {
                break;
            }
            // A cluster of two or more boolean letters (`-it`, `-dit`) is docker's habit;
            // a lone `-d` or `-p 80` could be a program's own option.
            distinctive |= letters >= 2;
            i += 1 + needs;
        } else {
            break;
        }
    }
    (i, distinctive)
}

/// The options that became the command, and the command line that was meant.
#[derive(Debug, Clone, PartialEq)]
pub struct Misplaced {
    /// The leading options, with their values, as they are in the command.
    pub flags: Vec<String>,
    /// The meant command line as argv: `docker <verb>`, the options, the image, the rest of the
    /// command.
    pub corrected: Vec<String>,
}

/// When `c`'s command begins with `docker run` options, the options and the corrected command
/// line. The engine does not record `run` versus `create`; a container that never started reads
/// best as `docker create`.
pub fn misplaced(c: &ContainerRecord) -> Option<Misplaced> {
    let verb = if c.state.started_at.is_some() {
        "run"
    } else {
        "create"
    };
    misplaced_in(
        verb,
        &c.config.image,
        &c.config.cmd,
        !c.config.entrypoint.is_empty(),
    )
}

/// [`misplaced`] on plain data. With an entrypoint the command is the entrypoint's arguments,
/// which may legitimately start with a program's own `-d` or `-v`: then only options no program
/// would use count (`--name`, `--rm`, `--restart`, `-it`, …).
pub fn misplaced_in(
    verb: &str,
    image: &str,
    cmd: &[String],
    has_entrypoint: bool,
) -> Option<Misplaced> {
    let (n, distinctive) = leading_flags(cmd);
    if n == 0 || (has_entrypoint && !distinctive) {
        return None;
    }
    let corrected = ["docker", verb]
        .iter()
        .map(|s| s.to_string())
        .chain(cmd[..n].iter().cloned())
        .chain(std::iter::once(image.to_string()))
        .chain(cmd[n..].iter().cloned())
        .collect();
    Some(Misplaced {
        flags: cmd[..n].to_vec(),
        corrected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn misplaced_flags_are_moved_before_the_image() {
        // (image, command, has an entrypoint) → (misplaced flags, corrected argv)
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            bool,
            Option<(&'a [&'a str], &'a [&'a str])>,
        );
        let cases: &[Case] = &[
            (
                "busybox",
                &["--name=web"],
                false,
                Some((
                    &["--name=web"],
                    &["docker", "create", "--name=web", "busybox"],
                )),
            ),
            (
                "nginx",
                &["--name", "web", "-p", "80:80"],
                false,
                Some((
                    &["--name", "web", "-p", "80:80"],
                    &["docker", "create", "--name", "web", "-p", "80:80", "nginx"],
                )),
            ),
            (
                "busybox",
                &["-it", "sh"],
                false,
                Some((&["-it"], &["docker", "create", "-it", "busybox", "sh"])),
            ),
            (
                "busybox",
                &["-dp", "8080:80", "httpd", "-f"],
                false,
                Some((
                    &["-dp", "8080:80"],
                    &[
                        "docker", "create", "-dp", "8080:80", "busybox", "httpd", "-f",
                    ],
                )),
            ),
            (
                "busybox",
                &["--rm", "-e", "A=b c", "sh", "-c", "echo $A"],
                false,
                Some((
                    &["--rm", "-e", "A=b c"],
                    &[
                        "docker", "create", "--rm", "-e", "A=b c", "busybox", "sh", "-c", "echo $A",
                    ],
                )),
            ),
            // With an entrypoint, a program's own short option is no evidence...
            ("redis", &["-v"], true, None),
            ("app", &["-d", "--verbose"], true, None),
            // ...but docker's own long options are.
            (
                "nginx",
                &["--name=nginx"],
                true,
                Some((
                    &["--name=nginx"],
                    &["docker", "create", "--name=nginx", "nginx"],
                )),
            ),
            // A value missing at the end: the options so far.
            (
                "busybox",
                &["--rm", "--name"],
                false,
                Some((
                    &["--rm"],
                    &["docker", "create", "--rm", "busybox", "--name"],
                )),
            ),
            // Ordinary commands.
            ("busybox", &["sleep", "300"], false, None),
            ("busybox", &["sh", "-c", "--name=x"], false, None),
            ("busybox", &[], false, None),
            ("busybox", &["--unknown-flag"], false, None),
            ("busybox", &["-"], false, None),
            ("busybox", &["-x"], false, None),
            ("busybox", &["-p"], false, None),
        ];
        for (image, cmd, ep, want) in cases {
            let got = misplaced_in("create", image, &strs(cmd), *ep);
            let want = want.map(|(flags, argv)| Misplaced {
                flags: strs(flags),
                corrected: strs(argv),
            });
            assert_eq!(got, want, "{image} {cmd:?} entrypoint={ep}");
        }
    }

    #[test]
    fn the_verb_follows_whether_it_ever_ran() {
        let mut c = ContainerRecord::default();
        c.config.image = "busybox".into();
        c.config.cmd = strs(&["--name=web"]);
        let created = misplaced(&c).expect("found");
        assert_eq!(created.corrected[..2], strs(&["docker", "create"]));
        c.state.started_at = Some(1.0);
        let ran = misplaced(&c).expect("found");
        assert_eq!(
            ran.corrected,
            strs(&["docker", "run", "--name=web", "busybox"])
        );
    }
}
