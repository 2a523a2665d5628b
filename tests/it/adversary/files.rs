//! Symlink attacks on what dockhand writes and removes as root: a user plants symbolic links
//! where dockhand will write (the Prometheus textfile, its temporary names, the pid file), makes
//! the state dir a link or their own, or points the data root's `tmp` at a root-owned victim.
//! In every case the victim's bytes, mode and owner stay as they were, and the ordinary case
//! still works.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dockhand::report::reap::ReapDoc;

use crate::support::attacker::{Lair, NOBODY_UID, Snapshot, sh_as_nobody};
use crate::support::{Run, TempDir, TestDaemon, dockhand};

/// A root-owned victim directory (0700) holding one root-owned file (0600), both old enough
/// that reap's grace period would let them go if it ever looked there.
struct Victim {
    _dir: TempDir,
    dir: PathBuf,
    file: PathBuf,
}

impl Victim {
    fn new(content: &str) -> Victim {
        let t = TempDir::new();
        // nobody may name things inside (to point a link at them), never change them.
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let dir = t.join("victim");
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("keep.conf");
        std::fs::write(&file, content).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        age(&file, Duration::from_secs(3 * 3600));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711)).unwrap();
        age(&dir, Duration::from_secs(3 * 3600));
        Victim { _dir: t, dir, file }
    }

    /// The directory's listing and each file's snapshot.
    fn snapshot(&self) -> (Vec<String>, Snapshot, Snapshot) {
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (names, Snapshot::of(&self.dir), Snapshot::of(&self.file))
    }
}

/// Sets a path's mtime `ago` in the past (a directory or a file; never through a symlink's
/// target for a link, see [`age_link`]).
fn age(path: &Path, ago: Duration) {
    let f = std::fs::File::options().read(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

/// As nobody: a symlink to `target` at `dir/PREFIX<pid>SUFFIX` for each of the next `n` pids
/// (made by one process, so the planting itself does not use up the pids it guesses).
fn plant_links_at_guessed_names(dir: &Path, prefix: &str, suffix: &str, target: &Path, n: u32) {
    const SCRIPT: &str = r#"
import os, sys
d, pre, suf, t, n = sys.argv[1:]
last = int(open("/proc/sys/kernel/ns_last_pid").read())
for p in range(last + 1, last + 1 + int(n)):
    os.symlink(t, os.path.join(d, pre + str(p) + suf))
"#;
    let out = crate::support::attacker::as_nobody("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .arg(dir)
        .arg(prefix)
        .arg(suffix)
        .arg(target)
        .arg(n.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "planting links failed: {out:?}");
}

/// A pid no process has now.
fn unused_pid() -> i32 {
    (20000..32000)
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

fn reap_doc(r: &Run) -> ReapDoc {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not a dockhand.reap/v1 document ({e})\n{r}"))
}

fn reap(host: &str, state: &Path, args: &[&str]) -> Run {
    let mut a: Vec<String> = vec![
        "--host".into(),
        host.into(),
        "--state-dir".into(),
        state.display().to_string(),
        "reap".into(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    a.extend(["--format".into(), "json".into()]);
    dockhand(&a)
}

#[test]
fn textfile_symlinks_planted_by_a_user_are_never_written_through() {
    let lair = Lair::new();
    let victim = Victim::new("root's own configuration\n");
    let victim2 = Victim::new("another root file\n");
    let before = (victim.snapshot(), victim2.snapshot());
    // The textfile directory is the user's: a link at the target itself, and links at every
    // temporary name a run with one of the next pids would have used.
    let target = lair.join("x.prom");
    let out = sh_as_nobody(&format!(
        "ln -s '{}' '{}'",
        victim.file.display(),
        target.display()
    ));
    assert!(out.status.success(), "{out:?}");
    plant_links_at_guessed_names(lair.path(), ".x.prom.", ".tmp", &victim2.file, 3000);
    let t = TempDir::new();
    let r = dockhand([
        "--host",
        &format!("unix://{}", t.join("no-daemon.sock").display()),
        "doctor",
        "--format",
        "prometheus",
        "--textfile",
        target.to_str().unwrap(),
    ]);
    // Nothing behind any link changed: bytes, mode, owner, inode.
    assert_eq!((victim.snapshot(), victim2.snapshot()), before, "{r}");
    // The ordinary case: the textfile is written, a regular file of root's, 0644, complete.
    r.assert_code(2);
    let meta = std::fs::symlink_metadata(&target).unwrap();
    assert!(meta.is_file(), "the link was not replaced by a file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
    let text = std::fs::read_to_string(&target).unwrap();
    assert!(text.contains("dockhand_status 2"), "{text}");
}

#[test]
fn a_state_dir_a_user_could_change_is_refused_with_a_sentence() {
    let d = TestDaemon::start();
    let lair = Lair::new();
    let victim = Victim::new("root's own data\n");
    let before = victim.snapshot();
    // The user's link to a root directory, a directory of the user's, and one anybody may
    // write (an operator's slip).
    let link = lair.join("state-link");
    let own = lair.join("state-own");
    let out = sh_as_nobody(&format!(
        "ln -s '{}' '{}' && mkdir -m 0700 '{}'",
        victim.dir.display(),
        link.display(),
        own.display()
    ));
    assert!(out.status.success(), "{out:?}");
    let open = TempDir::new();
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for (dir, why) in [
        (link.as_path(), "symbolic link"),
        (own.as_path(), &*format!("uid {NOBODY_UID}")),
        (open.path(), "0777"),
    ] {
        let r = reap(&d.host(), dir, &["--apply"]);
        r.assert_code(77);
        let said = r.stderr.trim();
        assert_eq!(said.lines().count(), 1, "one sentence: {r}");
        assert!(
            said.contains("--state-dir") && said.contains(why) && said.contains("chmod 0700"),
            "{r}"
        );
    }
    // Nothing was created or changed behind the link or in the user's directories.
    assert_eq!(victim.snapshot(), before);
    assert_eq!(std::fs::read_dir(&own).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(open.path()).unwrap().count(), 0);
    // The ordinary case: root's own 0700 state dir works, and its files are 0600.
    let state = TempDir::new();
    reap(&d.host(), state.path(), &["--apply"]).assert_code(0);
    let files: Vec<_> = std::fs::read_dir(state.path()).unwrap().collect();
    assert!(!files.is_empty(), "the lock and the journal were written");
    for e in files {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        assert!(m.is_file(), "{}", p.display());
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{}", p.display());
    }
}

#[test]
fn reap_never_follows_a_symlinked_or_user_writable_tmp_to_a_root_owned_victim() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let victim = Victim::new("must survive reap\n");
    let before = victim.snapshot();
    let root = d.data_root();
    let tmp = root.join("tmp");
    let hours = Duration::from_secs(3 * 3600);
    // Let nobody reach the data root (the test daemon's directory is root's 0700).
    std::fs::set_permissions(d.dir(), std::fs::Permissions::from_mode(0o711)).unwrap();

    // 1. tmp is the user's link to the victim: the user got write access to the data root for
    //    a moment (a rootless engine's data root is theirs for good) and swapped it.
    let root_mode = std::fs::metadata(&root).unwrap().permissions().mode();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = sh_as_nobody(&format!(
        "cd '{}' && rm -rf tmp.gone; mv tmp tmp.gone 2>/dev/null; ln -s '{}' tmp",
        root.display(),
        victim.dir.display()
    ));
    // Back to root's, with a way through for nobody (it must reach tmp in part 2).
    std::fs::set_permissions(
        &root,
        std::fs::Permissions::from_mode((root_mode & 0o7755) | 0o011),
    )
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(std::fs::symlink_metadata(&tmp).unwrap().is_symlink());
    let r = reap(&d.host(), state.path(), &["--apply"]);
    let doc = reap_doc(&r);
    assert_eq!(victim.snapshot(), before, "the victim was touched: {r}");
    assert!(
        doc.steps.iter().all(|s| s.category != "tmp"),
        "steps planned through the link: {doc:#?}"
    );
    assert!(
        doc.notes.iter().any(|n| n.contains("tmp")),
        "the link is not named: {doc:#?}"
    );

    // 2. tmp is a directory the user may write, with links planted in it: one to the victim
    //    file, one to the victim directory, and a real directory holding a link outside.
    std::fs::remove_file(&tmp).unwrap();
    let _ = std::fs::remove_dir_all(root.join("tmp.gone"));
    std::fs::create_dir(&tmp).unwrap();
    std::os::unix::fs::chown(&tmp, Some(NOBODY_UID), None).unwrap();
    let out = sh_as_nobody(&format!(
        "cd '{}' && ln -s '{}' GetImageBlob1 && ln -s '{}' docker-import-1 \
         && mkdir docker-import-2 && ln -s '{}' docker-import-2/out \
         && touch -h -d '3 hours ago' GetImageBlob1 docker-import-1 docker-import-2/out docker-import-2",
        tmp.display(),
        victim.file.display(),
        victim.dir.display(),
        victim.dir.display()
    ));
    assert!(out.status.success(), "{out:?}");
    let r = reap(&d.host(), state.path(), &["--apply"]);
    let doc = reap_doc(&r);
    assert_eq!(victim.snapshot(), before, "the victim was touched: {r}");
    assert!(
        doc.steps
            .iter()
            .filter(|s| s.category == "tmp")
            .all(|s| s.step.outcome.as_deref() != Some("done")),
        "something was removed from a tmp the user controls: {doc:#?}"
    );
    assert!(std::fs::symlink_metadata(tmp.join("docker-import-2/out")).is_ok());
    assert!(std::fs::symlink_metadata(tmp.join("GetImageBlob1")).is_ok());

    // 3. The ordinary case: root's own tmp, an old blob and an old directory go.
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)).unwrap();
    let blob = tmp.join("GetImageBlob9");
    std::fs::write(&blob, vec![0u8; 4096]).unwrap();
    age(&blob, hours);
    let dir = tmp.join("docker-import-9");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/layer.tar"), b"layer").unwrap();
    age(&dir, hours);
    let r = reap(&d.host(), state.path(), &["--apply"]);
    r.assert_code(0);
    assert!(!blob.exists() && !dir.exists(), "{r}");
    assert_eq!(victim.snapshot(), before);
}

#[test]
fn the_pid_file_rewrite_never_writes_through_a_users_link() {
    let d = TestDaemon::start();
    let state = TempDir::new();
    let stale = unused_pid().to_string();
    let victim = Victim::new(&stale);
    let before = victim.snapshot();
    let pidfile = d.pidfile();
    let dir = d.dir().to_path_buf();
    // The pid file's directory is the user's (a daemon started with --pidfile in a directory
    // a user may write): they plant a link at every temporary name a run with one of the next
    // pids would have used, then make the pid file itself stale.
    std::os::unix::fs::chown(&dir, Some(NOBODY_UID), None).unwrap();
    std::fs::write(&pidfile, &stale).unwrap();
    std::os::unix::fs::chown(&pidfile, Some(NOBODY_UID), None).unwrap();
    plant_links_at_guessed_names(&dir, "docker.dockhand-", "", &victim.file, 3000);
    let r = reap(&d.host(), state.path(), &["--apply"]);
    let doc = reap_doc(&r);
    assert_eq!(victim.snapshot(), before, "the victim was written: {r}");
    if let Some(s) = doc.steps.iter().find(|s| s.category == "pidfile") {
        assert_ne!(s.step.outcome.as_deref(), Some("done"), "{doc:#?}");
    }
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), stale);

    // The pid file itself a link to a root file naming a stale pid: never written through.
    std::fs::remove_file(&pidfile).unwrap();
    let out = sh_as_nobody(&format!(
        "ln -s '{}' '{}'",
        victim.file.display(),
        pidfile.display()
    ));
    assert!(out.status.success(), "{out:?}");
    let r = reap(&d.host(), state.path(), &["--apply"]);
    assert_eq!(victim.snapshot(), before, "the victim was written: {r}");
    assert!(std::fs::symlink_metadata(&pidfile).unwrap().is_symlink());

    // Back to root's: the ordinary rewrite works (tests/it/reap.rs covers it in full).
    std::fs::remove_file(&pidfile).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        if e.file_name()
            .to_string_lossy()
            .starts_with("docker.dockhand-")
        {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    std::os::unix::fs::chown(&dir, Some(0), None).unwrap();
    std::fs::write(&pidfile, &stale).unwrap();
    let r = reap(&d.host(), state.path(), &["--apply"]);
    r.assert_code(0);
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap().trim(),
        d.pid().to_string(),
        "{r}"
    );
}
