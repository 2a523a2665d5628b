//! Test support: throwaway Docker daemons ([`TestDaemon`]), a bounded process runner ([`run`]),
//! the dockhand binary runner ([`dockhand`]), temp dirs, and a validator for doctor's JSON.
//!
//! Everything a test creates lives under `/tmp/dockhand-test-<pid>-<n>/`. A crashed run leaves such
//! dirs behind; the next run removes the ones whose `<pid>` is gone (see [`sweep_stale`]).

#![allow(dead_code)] // Not every test module uses every helper.

pub mod attacker;
pub mod daemon;
pub mod fuse;
pub mod images;
pub mod leaks;
pub mod podman;
pub mod procfs;
pub mod proxy;
pub mod registry;
pub mod schema;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

pub use daemon::{TestDaemon, shared};

/// Some checks look at the whole host, not one daemon (ports.stuck: a stuck listener anywhere).
/// A test that makes such a problem real holds this lock for writing while the problem exists; a
/// test that expects a whole run to be clean holds it for reading. Other tests need neither.
static HOST_WIDE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held while a test makes a host-wide problem real.
pub fn host_problem() -> std::sync::RwLockWriteGuard<'static, ()> {
    HOST_WIDE.write().unwrap_or_else(|e| e.into_inner())
}

/// Held while a test expects every check of a whole run to be ok.
pub fn host_clean() -> std::sync::RwLockReadGuard<'static, ()> {
    HOST_WIDE.read().unwrap_or_else(|e| e.into_inner())
}

/// Prefix of every directory the tests create.
pub const PREFIX: &str = "dockhand-test-";

/// How long any dockhand run may take before the test kills it and fails.
pub const DOCKHAND_TIMEOUT: Duration = Duration::from_secs(30);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh private directory `/tmp/dockhand-test-<pid>-<n>/` (mode 0700), removed on drop —
/// after lazily unmounting anything still mounted under it.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new() -> TempDir {
        sweep_stale();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("{PREFIX}{}-{n}", std::process::id()));
        if path.exists() {
            remove_tree(&path);
        }
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("cannot create test dir {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
        TempDir { path, keep: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// Write `contents` to `rel` (creating parent dirs) and return the full path.
    pub fn write(&self, rel: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }

    /// Remove now (drop does the same).
    pub fn remove(&mut self) {
        if !self.keep {
            remove_tree(&self.path);
            self.keep = true;
        }
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Unmount everything under `path`, then delete it. Reports, never panics (runs in Drop).
pub fn remove_tree(path: &Path) {
    let left = procfs::unmount_all_under(path);
    if !left.is_empty() {
        eprintln!("dockhand tests: could not unmount {left:?}");
    }
    for attempt in 0..5 {
        match std::fs::remove_dir_all(path) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) if attempt == 4 => {
                eprintln!("dockhand tests: could not remove {}: {e}", path.display());
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Once per process: remove `/tmp/dockhand-test-<pid>-*` left by earlier runs whose `<pid>` is no
/// longer alive — killing what still runs from them, unmounting, deleting.
pub fn sweep_stale() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let tmp = std::env::temp_dir();
        let Ok(entries) = std::fs::read_dir(&tmp) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(PREFIX) else {
                continue;
            };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == std::process::id() || procfs::stat(pid).is_some() {
                continue;
            }
            let dir = entry.path();
            eprintln!("dockhand tests: removing stale {}", dir.display());
            procfs::kill_processes_of(&dir, &[], Duration::from_secs(5));
            remove_tree(&dir);
        }
    });
}

/// Process-wide scratch space: an empty dockhand config and an empty DOCKER_CONFIG dir, so the
/// host's /etc/dockhand/config.toml and ~/.docker never affect a test. Removed at exit.
pub struct Scratch {
    pub dir: TempDir,
    pub empty_config: PathBuf,
    pub docker_config: PathBuf,
}

static SCRATCH: OnceLock<Scratch> = OnceLock::new();

/// The scratch space, if anything created it (the exit hook must not create it).
pub fn scratch_if_created() -> Option<&'static Scratch> {
    SCRATCH.get()
}

pub fn scratch() -> &'static Scratch {
    SCRATCH.get_or_init(|| {
        let dir = TempDir::new();
        // World-traversable so a test can run dockhand as `nobody` with this config.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let empty_config = dir.write("empty-config.toml", "");
        std::fs::set_permissions(&empty_config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let docker_config = dir.join("docker-config");
        std::fs::create_dir(&docker_config).unwrap();
        std::fs::set_permissions(&docker_config, std::fs::Permissions::from_mode(0o755)).unwrap();
        daemon::register_exit_hook();
        Scratch {
            dir,
            empty_config,
            docker_config,
        }
    })
}

/// The wrapper that runs a command as `nobody`: uid and gid 65534, no supplementary groups.
pub const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// A copy of the dockhand binary that `nobody` may execute (target/ may sit under a home nobody
/// cannot enter), in the world-traversable scratch space, made once per run.
fn nobody_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = scratch().dir.join("dockhand-for-nobody");
        std::fs::copy(dockhand_bin(), &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    })
}

/// Restores a path's permission bits when dropped: for tests that open a socket or a directory
/// to `nobody` for a while.
pub struct ModeGuard(PathBuf, u32);

impl ModeGuard {
    pub fn set(path: &Path, mode: u32) -> ModeGuard {
        let old = std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        ModeGuard(path.to_owned(), old)
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(self.1));
    }
}

/// What a bounded run of a command produced.
#[derive(Debug, Clone)]
pub struct Run {
    /// What was run, for messages.
    pub what: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// The command overran its timeout and was killed.
    pub timed_out: bool,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with everything we know unless the exit code is `want`.
    #[track_caller]
    pub fn assert_code(&self, want: i32) -> &Run {
        assert!(
            self.code == Some(want),
            "expected exit code {want}, got {:?}\n{self}",
            self.code
        );
        self
    }

    /// stdout parsed as one JSON document; panics with the output when it is not.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "command: {}", self.what)?;
        writeln!(
            f,
            "exit: {:?} signal: {:?} elapsed: {:?}{}",
            self.code,
            self.signal,
            self.elapsed,
            if self.timed_out {
                " (TIMED OUT, killed)"
            } else {
                ""
            }
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run `cmd` with stdin `input` (or /dev/null), capturing stdout and stderr, killing its whole
/// process group when it overruns `timeout`. Never hangs; always reaps the child.
pub fn run_with_input(mut cmd: Command, input: Option<Vec<u8>>, timeout: Duration) -> Run {
    let what = describe(&cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    let pid = child.id() as i32;
    let writer = child.stdin.take().map(|mut stdin| {
        let data = input.unwrap_or_default();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        })
    });
    let out = child.stdout.take().map(read_in_background);
    let err = child.stderr.take().map(read_in_background);
    let deadline = start + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for `{what}`: {e}"),
        }
        if Instant::now() >= deadline {
            timed_out = true;
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = child.kill();
            break child
                .wait()
                .unwrap_or_else(|e| panic!("waiting for `{what}`: {e}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    if timed_out {
        // Anything else left in its group holds our pipes open.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    let stderr = err
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    Run {
        what,
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        elapsed,
        timed_out,
    }
}

fn read_in_background<R: Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// [`run_with_input`] with stdin from /dev/null.
pub fn run(cmd: Command, timeout: Duration) -> Run {
    run_with_input(cmd, None, timeout)
}

/// Path of the dockhand binary cargo built for these tests.
pub fn dockhand_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dockhand"))
}

/// A dockhand invocation: by default with `--config <empty file>`, an empty DOCKER_CONFIG, and
/// DOCKER_HOST, DOCKER_CONTEXT, NO_COLOR and friends removed from the environment.
#[derive(Debug, Clone)]
pub struct Dockhand {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    config: Option<PathBuf>,
    timeout: Duration,
}

/// Start building a dockhand run; see [`Dockhand`].
pub fn dockhand_cmd() -> Dockhand {
    Dockhand {
        program: dockhand_bin(),
        args: Vec::new(),
        env: Vec::new(),
        config: Some(scratch().empty_config.clone()),
        timeout: DOCKHAND_TIMEOUT,
    }
}

/// Run dockhand with `args` (after `--config <empty>`), bounded by [`DOCKHAND_TIMEOUT`].
pub fn dockhand<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    dockhand_cmd().args(args).run()
}

impl Dockhand {
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_owned(), Some(v.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.env.push((k.as_ref().to_owned(), None));
        self
    }

    /// Use this config file instead of the empty one.
    pub fn config(mut self, path: impl AsRef<Path>) -> Self {
        self.config = Some(path.as_ref().to_owned());
        self
    }

    /// Pass no `--config` at all (the test passes its own, or tests the default).
    pub fn no_config(mut self) -> Self {
        self.config = None;
        self
    }

    /// Run another copy of the binary (e.g. one `nobody` can read).
    pub fn program(mut self, p: impl AsRef<Path>) -> Self {
        self.program = p.as_ref().to_owned();
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The arguments dockhand itself receives.
    pub fn full_args(&self) -> Vec<OsString> {
        let mut v = Vec::new();
        if let Some(c) = &self.config {
            v.push(OsString::from("--config"));
            v.push(c.clone().into_os_string());
        }
        v.extend(self.args.iter().cloned());
        v
    }

    /// The command with the isolated environment, for tests that wrap or redirect it.
    pub fn command(&self) -> Command {
        self.command_via(&[])
    }

    /// The command run through a wrapper, e.g. `["setpriv", "--reuid=65534", …]`.
    pub fn command_via(&self, wrapper: &[&str]) -> Command {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        cmd.args(self.full_args());
        for k in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_API_VERSION",
            "NO_COLOR",
            "CLICOLOR",
            "CLICOLOR_FORCE",
            "FORCE_COLOR",
        ] {
            cmd.env_remove(k);
        }
        cmd.env("DOCKER_CONFIG", &scratch().docker_config);
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd
    }

    /// Runs as `nobody` (see [`AS_NOBODY`]), from a copy of the binary it may execute, with
    /// HOME in the scratch space.
    pub fn run_as_nobody(self) -> Run {
        let home = scratch().dir.path().to_path_buf();
        self.program(nobody_bin())
            .env("HOME", home)
            .run_via(AS_NOBODY)
    }

    pub fn run(&self) -> Run {
        run(self.command(), self.timeout)
    }

    pub fn run_via(&self, wrapper: &[&str]) -> Run {
        run(self.command_via(wrapper), self.timeout)
    }
}
