//! Credentials as root: `dockhand pull` runs as root, so the docker config it reads and the
//! credential helper it runs must be root's own. The attacker (nobody) plants a config, a
//! helper path or a helper whose output is a secret; dockhand must refuse, run nothing, and
//! never print the secret. Each attack is paired with the ordinary case that must still work.
//!
//! No engine is needed: the credentials are settled before the engine is asked anything, and
//! the pull's first JSON event says where they came from. The engine is a socket that does not
//! exist, so nothing is ever pulled.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::attacker::{Lair, sh_as_nobody};
use crate::support::{Run, TempDir, dockhand_cmd};

const NOWHERE: &str = "unix:///nonexistent/dockhand-adversary.sock";
const IMAGE: &str = "127.0.0.1:5999/app:1";

fn start_event(r: &Run) -> Option<Value> {
    r.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "start")
}

fn pull_with(docker_config: &Path, path_var: Option<&str>, cwd: Option<&Path>) -> Run {
    let mut d = dockhand_cmd()
        .env("DOCKER_CONFIG", docker_config)
        .args(["--host", NOWHERE, "pull", "--format", "json", IMAGE])
        .timeout(Duration::from_secs(60));
    if let Some(p) = path_var {
        d = d.env("PATH", p);
    }
    let mut cmd = d.command();
    if let Some(c) = cwd {
        cmd.current_dir(c);
    }
    crate::support::run(cmd, Duration::from_secs(60))
}

fn auths_config() -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw");
    format!(r#"{{"auths": {{"127.0.0.1:5999": {{"auth": "{auth}"}}}}}}"#)
}

/// A helper name with a path in it (`credsStore: "../../tmp/x"`) names a program the attacker
/// placed: without the name check, `docker-credential-../../tmp/x` resolves from dockhand's
/// working directory into the attacker's directory and runs as root.
#[test]
fn a_helper_name_with_a_path_is_refused_and_nothing_runs() {
    let lair = Lair::new();
    let marker = lair.join("ran-as-root");
    // docker-credential-.. is a directory, so docker-credential-../../tmp/x is <cwd>/tmp/x.
    let out = sh_as_nobody(&format!(
        "cd {} && mkdir docker-credential-.. tmp && printf '#!/bin/sh\\nid > {}\\n' > tmp/x && chmod 755 tmp/x",
        lair.path().display(),
        marker.display()
    ));
    assert!(
        out.status.success(),
        "the attacker's set-up failed: {out:?}"
    );
    let conf = TempDir::new();
    conf.write("config.json", r#"{"credsStore": "../../tmp/x"}"#);
    let r = pull_with(conf.path(), None, Some(lair.path()));
    assert_eq!(r.code, Some(64), "{r}");
    assert!(
        r.stderr.contains("letters, digits and . _ -"),
        "the refusal names what a helper name may hold: {r}"
    );
    assert!(!marker.exists(), "the planted helper ran as root: {r}");
    assert!(start_event(&r).is_none(), "no pull started: {r}");

    // The same attack through credHelpers, for the one registry.
    conf.write(
        "config.json",
        r#"{"credHelpers": {"127.0.0.1:5999": "../../tmp/x"}}"#,
    );
    let r = pull_with(conf.path(), None, Some(lair.path()));
    assert_eq!(r.code, Some(64), "{r}");
    assert!(!marker.exists(), "the planted helper ran as root: {r}");
}

/// A config in a directory the attacker owns (DOCKER_CONFIG pointed at it, or left over from a
/// `sudo -E`) is not read as root — neither the attacker's own file nor a root-owned file the
/// attacker could swap — while root's own config in a root-owned directory is.
#[test]
fn a_config_others_can_write_is_not_used_as_root() {
    let lair = Lair::new();
    let cfg = lair.join("config.json");
    let out = sh_as_nobody(&format!(
        "printf '%s' '{}' > {}",
        auths_config(),
        cfg.display()
    ));
    assert!(
        out.status.success(),
        "the attacker's set-up failed: {out:?}"
    );
    let r = pull_with(lair.path(), None, None);
    assert_eq!(r.code, Some(64), "{r}");
    assert!(
        r.stderr.contains("does not read credentials from") && r.stderr.contains("uid 65534"),
        "the refusal names the file and its owner: {r}"
    );
    assert!(start_event(&r).is_none(), "no pull started: {r}");

    // Root's file, but in the attacker's directory: the attacker could rename it away and put
    // its own in place, so it is refused too.
    std::fs::remove_file(&cfg).unwrap();
    std::fs::write(&cfg, auths_config()).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = pull_with(lair.path(), None, None);
    assert_eq!(r.code, Some(64), "{r}");
    assert!(r.stderr.contains("does not read credentials from"), "{r}");

    // A root-owned file anyone may write: refused.
    let conf = TempDir::new();
    let f = conf.write("config.json", auths_config());
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    let r = pull_with(conf.path(), None, None);
    assert_eq!(r.code, Some(64), "{r}");
    assert!(r.stderr.contains("mode 666"), "{r}");

    // The ordinary case: root's own config, root's own directory.
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let r = pull_with(conf.path(), None, None);
    let start = start_event(&r).unwrap_or_else(|| panic!("the pull started: {r}"));
    assert_eq!(start["credentials"], "docker config", "{r}");
}

/// A helper that fails may print anything, the secret included: dockhand reports its exit
/// status and nothing it printed. And a helper in a PATH directory the attacker owns is never
/// run as root; the same helper in a root-owned directory is.
#[test]
fn a_failing_helpers_output_never_reaches_a_message_and_untrusted_path_dirs_are_skipped() {
    let bin = TempDir::new();
    std::fs::set_permissions(bin.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper = bin.write(
        "docker-credential-dhleak",
        "#!/bin/sh\necho 'TOPSECRET-out-4711'\necho 'TOPSECRET-err-4711' >&2\nexit 3\n",
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = TempDir::new();
    conf.write("config.json", r#"{"credsStore": "dhleak"}"#);
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let r = pull_with(conf.path(), Some(&path), None);
    assert_eq!(r.code, Some(64), "{r}");
    assert!(
        r.stderr.contains("exited with status 3"),
        "the helper's status is reported: {r}"
    );
    assert!(
        !r.stderr.contains("TOPSECRET") && !r.stdout.contains("TOPSECRET"),
        "a helper's output reached dockhand's output: {r}"
    );

    // A helper in the attacker's directory, first in PATH: not run as root.
    let lair = Lair::new();
    let marker = lair.join("ran-as-root");
    let out = sh_as_nobody(&format!(
        "printf '#!/bin/sh\\nid > {m}\\nprintf {{\\\"Username\\\":\\\"a\\\",\\\"Secret\\\":\\\"b\\\"}}\\n' > {d}/docker-credential-dhplant && chmod 755 {d}/docker-credential-dhplant",
        m = marker.display(),
        d = lair.path().display()
    ));
    assert!(
        out.status.success(),
        "the attacker's set-up failed: {out:?}"
    );
    conf.write("config.json", r#"{"credsStore": "dhplant"}"#);
    let path = format!("{}:/usr/bin:/bin", lair.path().display());
    let r = pull_with(conf.path(), Some(&path), None);
    assert_eq!(r.code, Some(64), "{r}");
    assert!(r.stderr.contains("root's alone"), "{r}");
    assert!(!marker.exists(), "the planted helper ran as root: {r}");

    // The ordinary case: a working helper in a root-owned PATH directory.
    let good = bin.write(
        "docker-credential-dhgood",
        "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"alice\",\"Secret\":\"pw\"}' \"$server\"\n",
    );
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o755)).unwrap();
    conf.write("config.json", r#"{"credsStore": "dhgood"}"#);
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let r = pull_with(conf.path(), Some(&path), None);
    let start = start_event(&r).unwrap_or_else(|| panic!("the pull started: {r}"));
    assert_eq!(start["credentials"], "docker-credential-dhgood", "{r}");
}
