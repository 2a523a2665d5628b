//! The Debian package, installed for real. scripts/package builds it (a release build into
//! target/package, a target dir of its own so it never waits for the cargo running these tests)
//! and checks it with lintian; `apt-get install ./dockhand_*.deb` installs it on this host; the
//! installed files are then used as an operator would use them, the package is removed and
//! purged, and a guard purges it whatever fails in between, so the host is left as it was.
//!
//! One test does everything in order: apt and dpkg take one lock for the whole host.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::{Run, TestDaemon, dockhand_cmd, run};

const PACKAGE: &str = "dockhand";
const BIN: &str = "/usr/bin/dockhand";
const CONFFILE: &str = "/etc/dockhand/config.toml";
const STATE_DIR: &str = "/var/lib/dockhand";
const UNIT_DIR: &str = "/usr/lib/systemd/system";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The checkout's revision, as build.rs and scripts/package name it.
fn revision() -> String {
    let r = cmd(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
            "--abbrev=12",
            "--exclude",
            "*",
        ],
    );
    assert!(r.success(), "git describe failed\n{r}");
    r.stdout.trim().to_owned()
}

/// Builds the package once per test binary: the release build takes minutes the first time,
/// about a second when cargo finds target/package fresh. Returns the .deb and the revision the
/// checkout was at when it was built.
fn deb() -> &'static (PathBuf, String) {
    static DEB: OnceLock<(PathBuf, String)> = OnceLock::new();
    DEB.get_or_init(|| {
        let rev = revision();
        let mut cmd = Command::new(repo().join("scripts/package"));
        cmd.args(["--target-dir"])
            .arg(repo().join("target/package"))
            .arg("--print-deb")
            // cargo runs this test with build.rs's variables in its environment, and build.rs
            // sees a commit in a linked worktree late: the script asks git itself.
            .env_remove("DOCKHAND_GIT_REVISION");
        let r = run(cmd, Duration::from_secs(40 * 60));
        assert!(r.success(), "scripts/package failed\n{r}");
        let deb = PathBuf::from(r.stdout.lines().last().unwrap_or_default().trim());
        assert!(
            deb.is_file()
                && deb
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("dockhand_")),
            "scripts/package printed no .deb\n{r}"
        );
        (deb, rev)
    })
}

fn cmd(program: &str, args: &[&str]) -> Run {
    let mut c = Command::new(program);
    c.args(args);
    run(c, Duration::from_secs(60))
}

/// apt-get, without questions, waiting a while for another apt or dpkg run to finish.
fn apt_get(args: &[&str]) -> Run {
    let mut c = Command::new("apt-get");
    c.args(["-y", "-q", "-o", "DPkg::Lock::Timeout=300"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(c, Duration::from_secs(10 * 60))
}

/// dpkg's status of the package: "install ok installed", "deinstall ok config-files", or None
/// when dpkg does not know it (never installed, or purged).
fn dpkg_status() -> Option<String> {
    let r = cmd("dpkg-query", &["-W", "-f=${Status}", PACKAGE]);
    (r.success() && !r.stdout.trim().is_empty() && !r.stdout.contains("not-installed"))
        .then(|| r.stdout.trim().to_owned())
}

/// Purges the package when dropped, so a failed assertion does not leave it on the host.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if dpkg_status().is_some() {
            let r = apt_get(&["purge", PACKAGE]);
            if !r.success() {
                eprintln!("package: could not purge {PACKAGE}; remove it by hand\n{r}");
            }
        }
    }
}

/// The test replaces nothing: a dockhand someone installed, or its files and journal, stay.
fn refuse_unless_the_host_has_no_dockhand() {
    if let Some(status) = dpkg_status() {
        panic!(
            "this host already has the package {PACKAGE} ({status}); the package test installs and purges it, so run it on a host without it (or `apt-get purge {PACKAGE}` first)"
        );
    }
    for p in [BIN, "/etc/dockhand", STATE_DIR] {
        assert!(
            !Path::new(p).exists(),
            "{p} exists on this host; the package test would replace or purge it, so run it on a host without dockhand installed"
        );
    }
}

fn mode(p: &str) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .permissions()
        .mode()
        & 0o7777
}

/// The units in contrib/systemd/, by name: the package ships every one.
fn contrib_units() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("contrib/systemd"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".service") || n.ends_with(".timer"))
        .collect()
}

/// The absolute paths in backquotes in docs/deploy.md's section on the package.
fn paths_the_deploy_guide_names() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("docs/deploy.md")).unwrap();
    let start = text
        .find("## On the host: the Debian package")
        .expect("docs/deploy.md has a section on the package");
    let section = &text[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains(' ') && !s.contains('*'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_debian_package_installs_works_and_purges_cleanly() {
    refuse_unless_the_host_has_no_dockhand();
    let (deb, rev) = deb();

    // --- install ---------------------------------------------------------------------------
    let guard = Installed;
    // Recommends (an engine) are not pulled in: the test host has its own, and the test must not
    // add packages it does not remove.
    let r = apt_get(&[
        "install",
        "--no-install-recommends",
        &deb.display().to_string(),
    ]);
    assert!(r.success(), "apt-get install failed\n{r}");
    assert_eq!(dpkg_status().as_deref(), Some("install ok installed"));
    let listed: BTreeSet<String> = cmd("dpkg", &["-L", PACKAGE])
        .stdout
        .lines()
        .map(str::to_owned)
        .collect();

    // The binary names the release and the revision of the checkout it was built from.
    let v = cmd(BIN, &["--version"]);
    assert!(v.success(), "{v}");
    assert_eq!(
        v.stdout.trim(),
        format!("dockhand {} ({rev})", env!("CARGO_PKG_VERSION")),
        "installed --version"
    );

    // The manual page, found as man finds it.
    let m = cmd("man", &["-w", PACKAGE]);
    assert_eq!(
        m.stdout.trim(),
        "/usr/share/man/man1/dockhand.1.gz",
        "man -w\n{m}"
    );
    let page = cmd("man", &["-P", "cat", PACKAGE]);
    assert!(page.success() && page.stdout.contains("doctor"), "{page}");

    // Completions: bash's loads and registers; zsh's and fish's are where those shells look.
    let b = cmd(
        "bash",
        &[
            "-c",
            "source /usr/share/bash-completion/completions/dockhand && complete -p dockhand",
        ],
    );
    assert!(
        b.success() && b.stdout.contains("complete") && b.stdout.trim().ends_with(" dockhand"),
        "bash completion does not load\n{b}"
    );
    for f in [
        "/usr/share/zsh/vendor-completions/_dockhand",
        "/usr/share/fish/vendor_completions.d/dockhand.fish",
    ] {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(text.contains("doctor"), "{f}: {text}");
    }

    // Every unit of contrib/systemd/, verified where it is installed, and none enabled.
    let units = contrib_units();
    let installed_units: BTreeSet<String> = listed
        .iter()
        .filter_map(|p| p.strip_prefix(&format!("{UNIT_DIR}/")))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        installed_units, units,
        "the package's units and contrib/systemd/ differ"
    );
    let paths: Vec<String> = units.iter().map(|u| format!("{UNIT_DIR}/{u}")).collect();
    let mut verify = Command::new("systemd-analyze");
    verify.args(["verify", "--man=no"]).args(&paths);
    let r = run(verify, Duration::from_secs(60));
    assert!(
        r.success() && r.stdout.trim().is_empty() && r.stderr.trim().is_empty(),
        "systemd-analyze verify complains about the installed units\n{r}"
    );
    for u in &units {
        let r = cmd("systemctl", &["is-enabled", u]);
        assert!(
            r.stdout.trim() != "enabled",
            "{u} was enabled by the package\n{r}"
        );
    }

    // The conffile, all comments, and the state dir, root's alone.
    let conffiles = cmd("dpkg-query", &["-W", "-f=${Conffiles}", PACKAGE]);
    assert!(conffiles.stdout.contains(CONFFILE), "{conffiles}");
    assert_eq!(mode(CONFFILE), 0o644);
    assert_eq!(mode(STATE_DIR), 0o700);
    assert_eq!(std::fs::metadata(STATE_DIR).unwrap().uid(), 0);
    for doc in [
        "README.md.gz",
        "CHANGELOG.md.gz",
        "copyright",
        "changelog.gz",
    ] {
        let p = format!("/usr/share/doc/dockhand/{doc}");
        assert!(listed.contains(&p), "{p} is not in the package");
    }

    // What the deploy guide says the package installs, it installs.
    let named = paths_the_deploy_guide_names();
    assert!(
        named.len() >= 5,
        "too few paths found in docs/deploy.md: {named:?}"
    );
    for p in &named {
        let p = p.trim_end_matches('/');
        if p == STATE_DIR {
            continue; // made by the postinst, checked above
        }
        assert!(
            listed.contains(p),
            "docs/deploy.md names {p}, which the package does not install"
        );
    }

    // The installed binary against a throwaway daemon, reading the shipped conffile by default
    // (no --config): doctor runs and answers in its schema.
    let d = TestDaemon::start();
    let r = dockhand_cmd()
        .program(BIN)
        .no_config()
        .args(["--host", &d.host(), "doctor", "--format", "json"])
        .run();
    assert!(r.code.is_some_and(|c| c <= 3), "installed doctor\n{r}");
    assert_eq!(r.json()["schema"], "dockhand.doctor/v1", "{r}");
    // An acting run with the default state dir writes the journal the package keeps on remove.
    d.docker_ok(["create", "--name", "leftover", "busybox", "true"]);
    let r = dockhand_cmd()
        .program(BIN)
        .no_config()
        .args([
            "--host",
            &d.host(),
            "gc",
            "--apply",
            "--min-age",
            "0s",
            "--types",
            "containers",
        ])
        .run();
    assert!(r.success(), "installed gc --apply\n{r}");
    let journal = format!("{STATE_DIR}/journal.jsonl");
    assert!(
        Path::new(&journal).is_file(),
        "no journal after gc --apply\n{r}"
    );

    // --- remove: the program goes, the operator's record and settings stay --------------------
    // A timer the operator enabled (offline here: systemd is not pid 1 on the test host) is
    // disabled by the removal, so nothing wants a unit that is gone.
    let wants = "/etc/systemd/system/timers.target.wants/dockhand-gc.timer";
    let r = cmd("systemctl", &["enable", "dockhand-gc.timer"]);
    assert!(r.success() && Path::new(wants).is_symlink(), "{r}");
    let r = apt_get(&["remove", PACKAGE]);
    assert!(r.success(), "apt-get remove failed\n{r}");
    assert_eq!(dpkg_status().as_deref(), Some("deinstall ok config-files"));
    assert!(!Path::new(BIN).exists(), "{BIN} left after remove");
    for u in &units {
        assert!(
            !Path::new(&format!("{UNIT_DIR}/{u}")).exists(),
            "{u} left after remove"
        );
    }
    assert!(!Path::new(wants).is_symlink(), "{wants} left after remove");
    assert!(Path::new(&journal).is_file(), "remove deleted the journal");
    assert!(Path::new(CONFFILE).is_file(), "remove deleted the conffile");

    // --- purge: nothing of dockhand is left ---------------------------------------------------
    let r = apt_get(&["purge", PACKAGE]);
    assert!(r.success(), "apt-get purge failed\n{r}");
    assert_eq!(
        dpkg_status(),
        None,
        "dpkg still knows {PACKAGE} after purge"
    );
    for p in [STATE_DIR, CONFFILE, "/etc/dockhand"] {
        assert!(!Path::new(p).exists(), "{p} left after purge");
    }
    drop(guard);
}
