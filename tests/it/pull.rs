//! `dockhand pull` through a real registry on loopback behind a proxy that freezes mid-blob
//! (tests/support/registry.rs), on throwaway daemons: the stall is reported within
//! `--stall-after` + 2 s and the pull completes once the proxy thaws; retries that all stall
//! end with what to run; Ctrl-C abandons the pull and the next one verifies the daemon first; a
//! hung daemon is named, and recovered with `--recover`; credentials come from the docker
//! config of a registry that wants them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::registry::{
    FreezableProxy, Registry, seed_random_image, wait_for_blob, wait_for_no_blob,
};
use crate::support::{Run, TempDir, TestDaemon, dockhand_cmd, procfs};

const LAYER_MIB: u32 = 32;

/// A dockhand run whose stdout lines are read as they come, each with the instant it arrived.
/// Killed by pid on drop.
struct Live {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, Value)>,
}

impl Live {
    fn start(args: &[&str]) -> Live {
        let mut cmd = dockhand_cmd().args(args).command();
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), l)).is_err() {
                    return;
                }
            }
        });
        Live {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The first event (JSON line) matching `want`, and when it arrived.
    fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> (Instant, Value) {
        if let Some(hit) = self.seen.iter().find(|(_, v)| want(v)) {
            return hit.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((t, l)) => {
                    let v: Value = serde_json::from_str(&l)
                        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
                    self.seen.push((t, v.clone()));
                    if want(&v) {
                        return (t, v);
                    }
                }
                Err(_) => panic!(
                    "no {what} event within {within:?}; saw:\n{:#?}",
                    self.seen.iter().map(|(_, v)| v).collect::<Vec<_>>()
                ),
            }
        }
    }

    fn wait(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "dockhand pull did not end within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JSON lines of a finished run.
fn events(r: &Run) -> Vec<Value> {
    r.stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{r}"))
        })
        .collect()
}

fn pull(d: &TestDaemon, args: &[&str]) -> (Run, Vec<Value>) {
    let r = dockhand_cmd()
        .args(["--host", &d.host(), "pull", "--format", "json"])
        .args(args)
        .timeout(Duration::from_secs(120))
        .run();
    assert!(!r.timed_out, "{r}");
    let ev = events(&r);
    assert_eq!(ev[0]["event"], "start", "{r}");
    assert_eq!(ev[0]["schema"], "dockhand.pull/v1", "{r}");
    let end = ev.last().unwrap();
    assert_eq!(end["event"], "end", "{r}");
    assert_eq!(end["exit_code"], r.code.unwrap_or(-1), "{r}");
    (r, ev)
}

fn seeded() -> (Registry, FreezableProxy, TestDaemon, String) {
    let registry = Registry::start();
    let proxy = FreezableProxy::start(registry.addr());
    let d = TestDaemon::builder()
        .daemon_json(r#"{"live-restore": true}"#)
        .start();
    let image = format!("{}/big:1", proxy.addr());
    seed_random_image(&d, &image, LAYER_MIB);
    (registry, proxy, d, image)
}

#[test]
fn pull_reports_a_frozen_download_within_stall_after_and_completes_once_the_proxy_thaws() {
    let (_registry, proxy, d, image) = seeded();
    proxy.freeze_after(8 << 20);
    let mut p = Live::start(&[
        "--host",
        &d.host(),
        "pull",
        "--format",
        "json",
        "--stall-after",
        "2s",
        "--retries",
        "5",
        "--backoff",
        "500ms",
        &image,
    ]);
    assert!(
        proxy.wait_frozen(Duration::from_secs(60)),
        "the pull never reached the freeze"
    );
    let frozen = Instant::now();
    let (at, stalled) = p.wait_for("stalled", Duration::from_secs(30), |v| {
        v["event"] == "stalled"
    });
    let after = at.saturating_duration_since(frozen);
    eprintln!("stall reported {after:?} after the proxy froze: {stalled}");
    assert!(
        after <= Duration::from_secs(4),
        "reported {after:?} after the freeze (stall-after 2 s + 2 s)"
    );
    assert!(stalled["downloaded"].as_u64().unwrap() > 0, "{stalled}");
    let (_, probe) = p.wait_for("probe", Duration::from_secs(20), |v| v["event"] == "probe");
    assert_eq!(
        probe["health"], "healthy",
        "a stalled registry is not a hung daemon"
    );
    proxy.thaw();
    let (_, end) = p.wait_for("end", Duration::from_secs(120), |v| v["event"] == "end");
    assert_eq!(end["result"], "pulled", "{end}");
    assert_eq!(p.wait(Duration::from_secs(10)), 0);
    assert!(p.seen.iter().any(|(_, v)| v["event"] == "retry"), "retried");
    assert!(
        p.seen
            .iter()
            .any(|(_, v)| v["event"] == "layer" && v["status"] == "Pull complete")
    );
    d.docker_ok(["image", "inspect", &image]);

    // Every retry stalls: the run ends, saying what to run. Another image: under the
    // containerd image store the blobs of a pull with abandoned attempts stay in containerd's
    // content store past `docker rmi` (measured on 28.5), so the same image would download
    // nothing.
    let image = format!("{}/big:2", proxy.addr());
    seed_random_image(&d, &image, LAYER_MIB);
    proxy.freeze_after(4 << 20);
    let (r, ev) = pull(
        &d,
        &[
            "--stall-after",
            "1s",
            "--retries",
            "1",
            "--backoff",
            "200ms",
            &image,
        ],
    );
    r.assert_code(86);
    assert_eq!(
        ev.iter().filter(|e| e["event"] == "stalled").count(),
        2,
        "{r}"
    );
    assert!(r.stderr.contains("dockhand recover --apply --force"), "{r}");
    assert!(
        r.stderr
            .contains(&format!("dockhand pull --recover {image}")),
        "{r}"
    );
    proxy.thaw();

    // No such image.
    let (r, ev) = pull(&d, &[&format!("{}/nope:1", proxy.addr())]);
    r.assert_code(85);
    assert_eq!(ev.last().unwrap()["result"], "not-found", "{r}");
}

#[test]
fn pull_interrupted_by_ctrl_c_cancels_and_the_next_pull_verifies_the_daemon_first() {
    let (_registry, proxy, d, image) = seeded();
    proxy.throttle(1 << 20);
    let mut p = Live::start(&["--host", &d.host(), "pull", "--format", "json", &image]);
    wait_for_blob(&d.data_root(), 1 << 20, Duration::from_secs(60)).expect("the download started");
    kill(Pid::from_raw(p.pid()), Signal::SIGINT).unwrap();
    assert_eq!(p.wait(Duration::from_secs(10)), 130);
    let (_, end) = p.wait_for("end", Duration::from_secs(5), |v| v["event"] == "end");
    assert_eq!(end["result"], "interrupted", "{end}");
    // The engine cancelled the transfer: its download file is gone.
    assert!(
        wait_for_no_blob(&d.data_root(), Duration::from_secs(15)),
        "the daemon kept the download"
    );
    proxy.throttle(0);
    let (r, ev) = pull(&d, &[&image]);
    r.assert_code(0);
    let pre = ev
        .iter()
        .find(|e| e["event"] == "preflight")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(pre["health"], "healthy", "{r}");
    assert_eq!(pre["stalled_downloads"], 0, "{r}");
    assert_eq!(ev.last().unwrap()["result"], "pulled", "{r}");
    d.docker_ok(["image", "inspect", &image]);

    // A hung daemon is named at once; --recover recovers it and pulls.
    let cmdline = procfs::cmdline(d.pid()).unwrap();
    d.freeze();
    let t = Instant::now();
    let (r, ev) = pull(&d, &[&image]);
    r.assert_code(87);
    assert!(t.elapsed() < Duration::from_secs(10), "{r}");
    assert_eq!(ev.last().unwrap()["result"], "daemon-hung", "{r}");
    assert!(r.stderr.contains("dockhand recover --apply"), "{r}");
    let state = TempDir::new();
    let r = dockhand_cmd()
        .args(["--host", &d.host(), "--state-dir"])
        .arg(state.path())
        .args([
            "pull",
            "--format",
            "json",
            "--recover",
            "--start-cmd",
            &cmdline,
            "--log-file",
        ])
        .arg(d.log_path())
        .arg(&image)
        .timeout(Duration::from_secs(120))
        .run();
    let ev = events(&r);
    r.assert_code(0);
    let rec = ev
        .iter()
        .find(|e| e["event"] == "recover")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(rec["result"], "recovered", "{r}");
    assert_eq!(ev.last().unwrap()["result"], "pulled", "{r}");
}

/// The bcrypt hash of "s3cret-pw" (the registry's htpasswd accepts bcrypt only).
const HTPASSWD: &str = "alice:$2b$04$uR8we03Zh.d5l5MRDwpvMelSopH9blPriqU73srGLmY3Sf7JUQ9mi";

#[test]
fn pull_uses_the_docker_configs_credentials_for_a_registry_that_wants_them() {
    use base64::Engine as _;
    let registry = Registry::start_with_htpasswd(HTPASSWD);
    let d = TestDaemon::start();
    let image = format!("{}/private:1", registry.addr());
    // The CLI logs in and pushes (its config is the test daemon's own docker-cli dir).
    let mut login = d.docker_command();
    login.args([
        "login",
        "-u",
        "alice",
        "--password-stdin",
        &registry.addr().to_string(),
    ]);
    let r =
        crate::support::run_with_input(login, Some(b"s3cret-pw".to_vec()), Duration::from_secs(30));
    assert!(r.success(), "docker login failed\n{r}\n{}", registry.log());
    seed_random_image(&d, &image, 1);

    // No credentials: refused.
    let (r, ev) = pull(&d, &[&image]);
    assert!(matches!(r.code, Some(85 | 88)), "{r}");
    assert_eq!(ev[0]["credentials"], "none", "{r}");

    // The docker config's auths (base64 user:password), as `docker login` wrote it.
    let conf = TempDir::new();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw");
    conf.write(
        "config.json",
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.addr()
        ),
    );
    let r = dockhand_cmd()
        .env("DOCKER_CONFIG", conf.path())
        .args(["--host", &d.host(), "pull", "--format", "json", &image])
        .timeout(Duration::from_secs(60))
        .run();
    r.assert_code(0);
    assert_eq!(events(&r)[0]["credentials"], "docker config", "{r}");
    d.docker_ok(["image", "inspect", &image]);

    // A credential helper, named by credsStore, run with the server on stdin.
    d.docker_ok(["rmi", &image]);
    let bin = TempDir::new();
    let helper = bin.write(
        "docker-credential-dhtest",
        "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 2\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"s3cret-pw\"}' \"$server\"\n",
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf2 = TempDir::new();
    conf2.write("config.json", r#"{"credsStore": "dhtest"}"#);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = dockhand_cmd()
        .env("DOCKER_CONFIG", conf2.path())
        .env("PATH", path)
        .args(["--host", &d.host(), "pull", "--format", "json", &image])
        .timeout(Duration::from_secs(60))
        .run();
    r.assert_code(0);
    assert_eq!(
        events(&r)[0]["credentials"],
        "docker-credential-dhtest",
        "{r}"
    );
    d.docker_ok(["image", "inspect", &image]);
}

#[test]
fn pull_on_a_terminal_draws_a_bar_per_layer_and_ends_with_the_result_line() {
    let (_registry, _proxy, d, image) = seeded();
    let t = TempDir::new();
    let cfg = t.join("empty.toml");
    std::fs::write(&cfg, "").unwrap();
    // Through a real pty (util-linux `script`), as a person at a terminal runs it.
    let line = format!(
        "stty cols 120 rows 50; exec env -u COLUMNS -u NO_COLOR -u DOCKER_HOST DOCKER_CONFIG={} {} --config {} --host {} pull {image}",
        t.path().display(),
        crate::support::dockhand_bin().display(),
        cfg.display(),
        d.host(),
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let r = crate::support::run(cmd, Duration::from_secs(120));
    assert!(!r.timed_out, "{r}");
    r.assert_code(0);
    // The bars (indicatif's, with the layer's status and sizes), the messages above them, and
    // the result line last.
    assert!(r.stdout.contains('█'), "no bar was drawn:\n{}", r.stdout);
    assert!(r.stdout.contains("Pull complete"), "{}", r.stdout);
    assert!(r.stdout.contains("MiB / "), "{}", r.stdout);
    assert!(r.stdout.contains("daemon: healthy"), "{}", r.stdout);
    let last = r
        .stdout
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string();
    assert!(
        last.contains(&format!("pulled: {image}")),
        "the last line: {last:?}\n{}",
        r.stdout
    );
    d.docker_ok(["image", "inspect", &image]);
}
