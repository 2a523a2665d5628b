//! Who a process is, judged on what it cannot fake (evidence the policies judge on, see [`crate::policy`]).
//!
//! A process names itself: `comm` is writable by its owner (`prctl(PR_SET_NAME)`), `argv[0]` is
//! whatever its parent passed (`exec -a`), and anyone may copy a program to a file called
//! `dockerd`. What an unprivileged user cannot fake is the executable the kernel runs — the
//! inode behind `/proc/<pid>/exe`, its owner and mode, and the directory it sits in — and the
//! credentials the process runs with. Docker's own programs are judged on those, here, once:
//! every command that asks "is this Docker's?" asks [`docker_program`], and the daemon serving a
//! socket is accepted only through [`trusted_daemon`].
//!
//! Plain data in, a verdict out; the reads are in [`crate::runtime::host::identity`].

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The executable a process runs, as the kernel knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExeFacts {
    /// `/proc/<pid>/exe` read as a link, without a " (deleted)" suffix.
    pub path: PathBuf,
    /// Owner and mode of the inode the process runs (`stat` through `/proc/<pid>/exe`, which
    /// reaches the very file executed, also once replaced on disk).
    pub uid: u32,
    pub mode: u32,
    /// Owner and mode of the directory the path names, when it could be read.
    pub dir: Option<(u32, u32)>,
}

/// What the kernel says about a process's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Real, effective, saved and filesystem uids (`Uid:` of `/proc/<pid>/status`).
    pub uids: Vec<u32>,
    /// `None` when the executable could not be read (a kernel thread, or not permitted).
    pub exe: Option<ExeFacts>,
}

impl Identity {
    /// The real uid, when known.
    pub fn uid(&self) -> Option<u32> {
        self.uids.first().copied()
    }
}

/// Docker's own programs, by what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerProgram {
    Dockerd,
    Containerd,
    /// `containerd-shim`, `containerd-shim-runc-v1/v2`.
    Shim,
    Proxy,
    Runc,
    Init,
}

impl DockerProgram {
    /// The program's usual name, for messages and for the policies that match on it.
    pub fn name(self) -> &'static str {
        match self {
            DockerProgram::Dockerd => "dockerd",
            DockerProgram::Containerd => "containerd",
            DockerProgram::Shim => "containerd-shim",
            DockerProgram::Proxy => "docker-proxy",
            DockerProgram::Runc => "runc",
            DockerProgram::Init => "docker-init",
        }
    }
}

/// Which program an executable's base name is (old packages' names included).
pub fn program_by_name(name: &str) -> Option<DockerProgram> {
    if name.starts_with("containerd-shim") {
        return Some(DockerProgram::Shim);
    }
    Some(match name {
        "dockerd" => DockerProgram::Dockerd,
        "containerd" | "docker-containerd" => DockerProgram::Containerd,
        "docker-proxy" | "docker-proxy-current" => DockerProgram::Proxy,
        "runc" | "docker-runc" => DockerProgram::Runc,
        "docker-init" => DockerProgram::Init,
        _ => return None,
    })
}

/// The base name of an executable path, without a " (deleted)" suffix.
pub fn exe_name(path: &Path) -> String {
    path.file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_string()
        })
        .unwrap_or_default()
}

/// Whether an executable can be trusted to be what it says for a process of `owners`: the file
/// is owned by one of them and writable by no one else (group or others), and its directory is
/// owned by one of them and not writable by others — so no other user could have put it there
/// or changed it.
pub fn exe_trusted(exe: &ExeFacts, owners: &[u32]) -> Result<(), String> {
    let shown = exe.path.display();
    if !owners.contains(&exe.uid) {
        return Err(format!(
            "its executable {shown} is owned by uid {}",
            exe.uid
        ));
    }
    if exe.mode & 0o022 != 0 {
        return Err(format!(
            "its executable {shown} is writable by group or others (mode {:o})",
            exe.mode & 0o7777
        ));
    }
    match exe.dir {
        None => Err(format!(
            "the directory of its executable {shown} could not be read"
        )),
        Some((uid, _)) if !owners.contains(&uid) => Err(format!(
            "the directory of its executable {shown} is owned by uid {uid}"
        )),
        Some((_, mode)) if mode & 0o002 != 0 => Err(format!(
            "the directory of its executable {shown} is writable by others (mode {:o})",
            mode & 0o7777
        )),
        Some(_) => Ok(()),
    }
}

/// Whether every uid of the process is one of `owners`.
fn runs_as(id: &Identity, owners: &[u32]) -> Result<(), String> {
    if id.uids.is_empty() {
        return Err("its user could not be read".into());
    }
    match id.uids.iter().find(|u| !owners.contains(u)) {
        Some(u) => Err(format!("it runs as uid {u}")),
        None => Ok(()),
    }
}

/// The owners a Docker program may have: root, and the verified daemon's user when that
/// daemon is rootless.
fn owners(daemon_uid: Option<u32>) -> Vec<u32> {
    let mut v = vec![0];
    if let Some(u) = daemon_uid.filter(|u| *u != 0) {
        v.push(u);
    }
    v
}

/// THE judgement "is this one of Docker's own programs": by the executable the kernel runs (its
/// base name, owner and mode, its directory) and the process's user (root, or `daemon_uid`,
/// the verified daemon's user when it is rootless). Never by `comm` or `argv[0]`.
pub fn docker_program(id: &Identity, daemon_uid: Option<u32>) -> Result<DockerProgram, String> {
    let Some(exe) = &id.exe else {
        return Err("its executable could not be read".into());
    };
    let name = exe_name(&exe.path);
    let Some(program) = program_by_name(&name) else {
        return Err(format!(
            "it runs {}, which is not a Docker program",
            exe.path.display()
        ));
    };
    let owners = owners(daemon_uid);
    runs_as(id, &owners)?;
    exe_trusted(exe, &owners)?;
    Ok(program)
}

/// Whether the process holding a daemon's socket may be taken for that daemon: it runs as root
/// or as the socket file's owner, from an executable owned by one of those and writable by no
/// one else. `socket_uid` is the owner of the socket file (read without following a symlink).
pub fn trusted_daemon(id: &Identity, socket_uid: u32) -> Result<(), String> {
    let Some(exe) = &id.exe else {
        return Err("its executable could not be read".into());
    };
    let owners = owners(Some(socket_uid));
    runs_as(id, &owners)?;
    exe_trusted(exe, &owners)
}

/// What the service manager's answer makes of the daemon's unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitVerdict {
    /// A system unit runs it: stop and start go through `systemctl … UNIT`.
    System(String),
    /// No service runs it (no systemd, or a login session's scope: started by hand).
    NotAService,
    /// dockhand must not stop or start it as root: why, in one sentence.
    Refused(String),
}

/// The daemon's unit, judged. `reported`: `None` when systemd is not init (then there is no
/// manager to ask, and no unit is made up from the cgroup path), else systemd's own answer to
/// `GetUnitByPID` (or why it gave none). `cgroup`: the process's cgroup path, consulted only to
/// refuse — a daemon under a user's manager (`…/user@1000.service/…`) is that user's, whatever
/// its unit is called. `uid`: the verified daemon's user (not 0: rootless).
pub fn service_unit(
    reported: Option<&Result<String, String>>,
    cgroup: Option<&str>,
    uid: u32,
) -> UnitVerdict {
    const HOW: &str = "stop or start it as that user (`systemctl --user`), not through dockhand";
    if uid != 0 {
        return UnitVerdict::Refused(format!(
            "the daemon runs as uid {uid} (rootless), under its user's own service manager: {HOW}"
        ));
    }
    if let Some(seg) = cgroup.and_then(|cg| {
        cg.split('/')
            .find(|s| s.starts_with("user@") && s.ends_with(".service"))
    }) {
        return UnitVerdict::Refused(format!(
            "the daemon sits under {seg} (a user's own service manager) in its cgroup {}: {HOW}",
            cgroup.unwrap_or_default()
        ));
    }
    match reported {
        None => UnitVerdict::NotAService,
        Some(Err(why)) => UnitVerdict::Refused(format!(
            "systemd runs this host but did not say which unit runs the daemon ({why}): stop and start it through systemctl yourself"
        )),
        Some(Ok(unit)) if unit.starts_with("user@") => UnitVerdict::Refused(format!(
            "systemd puts the daemon in {unit}, a user's own service manager: {HOW}"
        )),
        Some(Ok(unit)) if unit.ends_with(".service") => UnitVerdict::System(unit.clone()),
        // A login session's scope, init.scope, a slice: no service runs it.
        Some(Ok(_)) => UnitVerdict::NotAService,
    }
}

/// The unit name in `busctl call … GetUnitByPID` output (`o "/org/freedesktop/systemd1/unit/
/// docker_2eservice"`): the object path's last element, with systemd's `_XX` escapes undone.
/// `None` for anything else, or a name with characters no unit name has.
pub fn unit_from_busctl(out: &str) -> Option<String> {
    let path = out
        .trim()
        .strip_prefix("o ")?
        .trim()
        .strip_prefix('"')?
        .strip_suffix('"')?;
    let esc = path.strip_prefix("/org/freedesktop/systemd1/unit/")?;
    let b = esc.as_bytes();
    let mut name = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            name.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            name.push(b[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(name).ok()?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c));
    ok.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(uid: u32, path: &str, exe_uid: u32, mode: u32, dir: Option<(u32, u32)>) -> Identity {
        Identity {
            uids: vec![uid; 4],
            exe: Some(ExeFacts {
                path: PathBuf::from(path),
                uid: exe_uid,
                mode,
                dir,
            }),
        }
    }

    const SYS: Option<(u32, u32)> = Some((0, 0o40755));

    #[test]
    fn docker_programs_by_executable_and_owner() {
        use DockerProgram::*;
        let cases: &[(Identity, Option<u32>, Option<DockerProgram>)] = &[
            (
                id(0, "/usr/sbin/dockerd", 0, 0o100755, SYS),
                None,
                Some(Dockerd),
            ),
            (
                id(0, "/usr/bin/containerd", 0, 0o100755, SYS),
                None,
                Some(Containerd),
            ),
            (
                id(0, "/usr/bin/containerd-shim-runc-v2", 0, 0o100755, SYS),
                None,
                Some(Shim),
            ),
            (
                id(0, "/usr/sbin/docker-proxy", 0, 0o100755, SYS),
                None,
                Some(Proxy),
            ),
            (id(0, "/usr/sbin/runc", 0, 0o100755, SYS), None, Some(Runc)),
            (
                id(0, "/usr/bin/docker-init", 0, 0o100755, SYS),
                None,
                Some(Init),
            ),
            // Replaced on disk by an upgrade: still the same program.
            (
                id(0, "/usr/sbin/dockerd (deleted)", 0, 0o100755, SYS),
                None,
                Some(Dockerd),
            ),
            // A copy named docker-proxy, run by nobody from its own directory.
            (
                id(
                    65534,
                    "/tmp/att/docker-proxy",
                    65534,
                    0o100755,
                    Some((65534, 0o40755)),
                ),
                None,
                None,
            ),
            // The same copy run as root: the file is not root's.
            (
                id(
                    0,
                    "/tmp/att/docker-proxy",
                    65534,
                    0o100755,
                    Some((65534, 0o40755)),
                ),
                None,
                None,
            ),
            // Root's program run by nobody (`exec -a docker-proxy` changes nothing either).
            (
                id(65534, "/usr/sbin/docker-proxy", 0, 0o100755, SYS),
                None,
                None,
            ),
            // Root's file, but writable by others, or in a world-writable directory.
            (
                id(0, "/usr/sbin/docker-proxy", 0, 0o100777, SYS),
                None,
                None,
            ),
            (
                id(0, "/usr/sbin/docker-proxy", 0, 0o100775, SYS),
                None,
                None,
            ),
            (
                id(0, "/tmp/docker-proxy", 0, 0o100755, Some((0, 0o41777))),
                None,
                None,
            ),
            (id(0, "/x/docker-proxy", 0, 0o100755, None), None, None),
            // Not a Docker program at all.
            (id(0, "/usr/bin/python3", 0, 0o100755, SYS), None, None),
            // A rootless daemon's own programs, owned by its user.
            (
                id(
                    1000,
                    "/home/u/bin/docker-proxy",
                    1000,
                    0o100755,
                    Some((1000, 0o40755)),
                ),
                Some(1000),
                Some(Proxy),
            ),
            (
                id(
                    1000,
                    "/home/u/bin/docker-proxy",
                    1000,
                    0o100755,
                    Some((1000, 0o40755)),
                ),
                None,
                None,
            ),
            (
                id(
                    1001,
                    "/home/v/bin/docker-proxy",
                    1001,
                    0o100755,
                    Some((1001, 0o40755)),
                ),
                Some(1000),
                None,
            ),
        ];
        for (i, (ident, daemon_uid, want)) in cases.iter().enumerate() {
            assert_eq!(
                docker_program(ident, *daemon_uid).ok(),
                *want,
                "case {i}: {ident:?}"
            );
        }
        let unreadable = Identity {
            uids: vec![0; 4],
            exe: None,
        };
        assert!(docker_program(&unreadable, None).is_err());
        let mixed = Identity {
            uids: vec![65534, 0, 0, 0],
            ..id(0, "/usr/sbin/docker-proxy", 0, 0o100755, SYS)
        };
        assert!(
            docker_program(&mixed, None).is_err(),
            "a real uid of nobody"
        );
    }

    #[test]
    fn the_daemon_runs_as_root_or_the_sockets_owner() {
        let cases: &[(Identity, u32, bool)] = &[
            (id(0, "/usr/sbin/dockerd", 0, 0o100755, SYS), 0, true),
            (id(0, "/usr/bin/podman", 0, 0o100755, SYS), 0, true),
            // A rootless daemon: its user's socket, its user's binary.
            (
                id(
                    1000,
                    "/home/u/bin/dockerd",
                    1000,
                    0o100755,
                    Some((1000, 0o40700)),
                ),
                1000,
                true,
            ),
            // nobody's copy of python holding root's socket (it cannot, but say it could).
            (
                id(
                    65534,
                    "/tmp/att/dockerd",
                    65534,
                    0o100755,
                    Some((65534, 0o40755)),
                ),
                0,
                false,
            ),
            // nobody holding its own socket from its own copy: fine for nobody's socket only.
            (
                id(
                    65534,
                    "/tmp/att/dockerd",
                    65534,
                    0o100755,
                    Some((65534, 0o40755)),
                ),
                65534,
                true,
            ),
            // Root running a file anyone may rewrite.
            (
                id(0, "/tmp/dockerd", 0, 0o100757, Some((0, 0o41777))),
                0,
                false,
            ),
            (id(0, "/srv/dockerd", 1000, 0o100755, SYS), 0, false),
        ];
        for (i, (ident, sock_uid, ok)) in cases.iter().enumerate() {
            assert_eq!(
                trusted_daemon(ident, *sock_uid).is_ok(),
                *ok,
                "case {i}: {ident:?}"
            );
        }
    }

    #[test]
    fn refusals_say_why() {
        let e = docker_program(
            &id(
                65534,
                "/tmp/att/docker-proxy",
                65534,
                0o100755,
                Some((65534, 0o40755)),
            ),
            None,
        )
        .expect_err("nobody's");
        assert_eq!(e, "it runs as uid 65534");
        let e = docker_program(&id(0, "/usr/sbin/docker-proxy", 0, 0o100777, SYS), None)
            .expect_err("0777");
        assert!(e.contains("writable by group or others (mode 777)"), "{e}");
    }
    #[test]
    fn the_unit_is_the_managers_never_the_cgroup_paths() {
        use UnitVerdict::*;
        let ok = |u: &str| Ok::<String, String>(u.to_string());
        type Case<'a> = (
            Option<Result<String, String>>,
            Option<&'a str>,
            u32,
            &'a str,
        );
        let cases: &[Case] = &[
            // The ordinary case: systemd says docker.service.
            (
                Some(ok("docker.service")),
                Some("/system.slice/docker.service"),
                0,
                "system docker.service",
            ),
            // A unit a user named, in a cgroup of their choosing: systemd's answer wins, and the
            // cgroup's evil.service is never named.
            (
                Some(ok("docker.service")),
                Some("/evil.service"),
                0,
                "system docker.service",
            ),
            // No systemd as init: no unit, whatever the cgroup path says.
            (None, Some("/evil.service"), 0, "none"),
            (None, Some("/system.slice/docker.service"), 0, "none"),
            // Started by hand in a login session.
            (
                Some(ok("session-4.scope")),
                Some("/user.slice/user-0.slice/session-4.scope"),
                0,
                "none",
            ),
            // Under a user's manager: refused, also when systemd names the user's manager.
            (
                None,
                Some("/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service"),
                0,
                "refused",
            ),
            (
                Some(ok("user@1000.service")),
                Some("/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service"),
                0,
                "refused",
            ),
            (Some(ok("user@1000.service")), None, 0, "refused"),
            // A rootless daemon.
            (
                Some(ok("docker.service")),
                Some("/system.slice/docker.service"),
                1000,
                "refused",
            ),
            // systemd did not answer: unknown, so refused rather than guessed.
            (
                Some(Err("timed out".into())),
                Some("/system.slice/docker.service"),
                0,
                "refused",
            ),
        ];
        for (i, (reported, cg, uid, want)) in cases.iter().enumerate() {
            let got = service_unit(reported.as_ref(), *cg, *uid);
            let shown = match &got {
                System(u) => format!("system {u}"),
                NotAService => "none".into(),
                Refused(_) => "refused".into(),
            };
            assert_eq!(shown, *want, "case {i}: {got:?}");
            if let Refused(why) = &got {
                assert!(!why.contains("evil"), "{why}");
            }
        }
    }

    #[test]
    fn busctl_answers() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "o \"/org/freedesktop/systemd1/unit/docker_2eservice\"\n",
                Some("docker.service"),
            ),
            (
                "o \"/org/freedesktop/systemd1/unit/user_401000_2eservice\"",
                Some("user@1000.service"),
            ),
            ("o \"/org/freedesktop/systemd1/unit/a_2fb\"", None),
            ("o \"/org/freedesktop/systemd1/unit/x_zz\"", None),
            ("s \"docker.service\"", None),
            ("", None),
        ];
        for (out, want) in cases {
            assert_eq!(unit_from_busctl(out).as_deref(), *want, "{out}");
        }
    }
    proptest::proptest! {
        /// Over arbitrary facts: a program is Docker's only when every uid, the executable's
        /// owner and its directory's owner are root or the daemon's user, and neither the file
        /// (group, others) nor the directory (others) is writable by anyone else.
        #[test]
        fn no_docker_program_rests_on_a_stranger(
            uids in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just(0u32),
                proptest::strategy::Just(1000u32),
                proptest::strategy::Just(65534u32),
            ], 0..5),
            exe_uid in proptest::prop_oneof![
                proptest::strategy::Just(0u32),
                proptest::strategy::Just(1000u32),
                proptest::strategy::Just(65534u32),
            ],
            mode in 0u32..0o10000,
            dir in proptest::option::of((
                proptest::prop_oneof![
                    proptest::strategy::Just(0u32),
                    proptest::strategy::Just(65534u32),
                ],
                0u32..0o10000,
            )),
            name in proptest::prop_oneof![
                proptest::strategy::Just("docker-proxy"),
                proptest::strategy::Just("dockerd"),
                proptest::strategy::Just("containerd-shim-runc-v2"),
                proptest::strategy::Just("python3"),
            ],
            daemon_uid in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just(0u32),
                proptest::strategy::Just(1000u32),
            ]),
        ) {
            let ident = Identity {
                uids: uids.clone(),
                exe: Some(ExeFacts {
                    path: PathBuf::from(format!("/x/{name}")),
                    uid: exe_uid,
                    mode: 0o100000 | mode,
                    dir: dir.map(|(u, m)| (u, 0o40000 | m)),
                }),
            };
            let trusted = |u: u32| u == 0 || Some(u) == daemon_uid;
            if docker_program(&ident, daemon_uid).is_ok() {
                proptest::prop_assert!(!uids.is_empty() && uids.iter().all(|u| trusted(*u)));
                proptest::prop_assert!(trusted(exe_uid) && mode & 0o022 == 0);
                proptest::prop_assert!(dir.is_some_and(|(u, m)| trusted(u) && m & 0o002 == 0));
                proptest::prop_assert!(name != "python3");
            }
        }
    }
}
