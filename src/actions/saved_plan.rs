//! Saved plans, one format for every acting command (`gc --plan-out` / `--apply-plan`,
//! `reap` and `ports free` `--plan-out` / `--apply --plan`).
//!
//! A plan file is a promise dockhand made to itself: "these steps, judged on this machine
//! against this engine". Applying one runs as root, so the file is trusted only as far as it can
//! prove that promise:
//!
//! - it is signed (HMAC-SHA-256) with the state dir's key, which only root reads: an edited
//!   file, or one signed with another state dir's key, is refused;
//! - it names the machine (`/etc/machine-id`) and the engine (its address and the identity the
//!   live engine confirms: `/info`'s ID and data root); a plan that names no host, or another
//!   machine or engine, is refused;
//! - it holds only the action kinds and scopes its own command produces ([`allowed`]): a reap
//!   plan never starts a daemon, whatever its signature says;
//! - the file itself is a regular file (not a symlink), root's (or the running user's), and
//!   writable by no one else;
//! - and each step is re-judged against live facts before it runs: the command plans anew and
//!   applies only the saved steps a plan made now would also hold ([`rejudge`]).
//!
//! Every refusal is one sentence naming the file and what would work, and nothing runs.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

use super::plan::{Action, Plan, Step};
use super::process::Scope;
use crate::util::sanitize;

/// The format's schema name; a file with another is refused (plans are short-lived: make a new
/// one rather than read an old one).
pub const PLAN_SCHEMA: &str = "dockhand.plan/v2";
/// The key of the plans' signatures, in the state dir.
pub const KEY_FILE: &str = "plan.key";
/// A plan file larger than this is not one of ours (a plan of 100,000 steps is ~50 MB).
const MAX_BYTES: u64 = 64 << 20;

/// The engine a plan was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineDoc {
    /// The address dockhand was given (`--host`).
    pub endpoint: String,
    /// The engine's identity as its `/info` tells it (`ID@data-root`; Podman's ID changes on
    /// every call, so a Podman engine is its graph root alone); `None` when the engine did not
    /// answer while planning.
    pub id: Option<String>,
}

/// A plan as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub schema: String,
    /// The command that made it: `gc`, `reap`, `ports free`.
    pub command: String,
    /// The command's own subject, when it has one (`ports free`'s port).
    #[serde(default)]
    pub subject: Option<String>,
    /// RFC 3339, milliseconds.
    pub created_at: String,
    /// `/etc/machine-id` of the host it was made on.
    pub host: Option<String>,
    pub engine: EngineDoc,
    /// The dockhand version that made it.
    pub dockhand: String,
    /// The command's own options the plan was made with (gc's policy, `reap --shims`, `ports
    /// free --force-foreign`): applying plans anew with them.
    #[serde(default)]
    pub options: Value,
    pub steps: Vec<Step>,
}

impl SavedPlan {
    pub fn new(command: &str, subject: Option<String>, engine: EngineDoc, plan: &Plan) -> Self {
        SavedPlan {
            schema: PLAN_SCHEMA.to_string(),
            command: command.to_string(),
            subject,
            created_at: crate::units::rfc3339_ms(std::time::SystemTime::now()),
            host: super::journal::machine_id(),
            engine,
            dockhand: env!("CARGO_PKG_VERSION").into(),
            options: Value::Null,
            steps: plan.steps.clone(),
        }
    }

    pub fn with_options(mut self, options: Value) -> Self {
        self.options = options;
        self
    }

    pub fn plan(&self) -> Plan {
        Plan::new(self.steps.clone())
    }
}

/// What the applying run expects of a plan: its command, subject, and where it runs now.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub command: &'a str,
    pub subject: Option<&'a str>,
    /// This machine's id (`None`: it has none, and no plan can be bound to it).
    pub host: Option<&'a str>,
    pub endpoint: &'a str,
    /// The live engine's identity; `None` when it did not answer.
    pub engine: Option<&'a str>,
}

/// Why a saved plan is refused. Each is one sentence naming the file and what would work.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the plan {path}: {why}; pass a file written by --plan-out")]
    Unreadable { path: PathBuf, why: String },
    #[error(
        "the plan {path} is refused: {why}; only a regular file owned by root (or by the user running dockhand) and writable by no one else is applied"
    )]
    Unsafe { path: PathBuf, why: String },
    #[error("{path} is not a dockhand plan ({why}); pass a file written by --plan-out")]
    NotAPlan { path: PathBuf, why: String },
    #[error(
        "{path} is a {found} plan; this dockhand applies {PLAN_SCHEMA} plans only: make a new one with --plan-out"
    )]
    Schema { path: PathBuf, found: String },
    #[error(
        "{path} does not match its digest: it was changed after dockhand wrote it, or written with another state dir's key; make a new plan with --plan-out"
    )]
    Tampered { path: PathBuf },
    #[error(
        "{path} is a plan of `dockhand {found}`, not of `dockhand {want}`; apply it with the command that made it"
    )]
    OtherCommand {
        path: PathBuf,
        found: String,
        want: String,
    },
    #[error("{path} was made for {found}, not for {want}; make a new plan here with --plan-out")]
    OtherSubject {
        path: PathBuf,
        found: String,
        want: String,
    },
    #[error(
        "{path} names no host, and a plan is applied only on the machine it was made on; make a new plan here with --plan-out"
    )]
    NoHost { path: PathBuf },
    #[error(
        "{path} cannot be bound to this machine: it has no /etc/machine-id; run `systemd-machine-id-setup` (or write one), then make a new plan"
    )]
    NoMachineId { path: PathBuf },
    #[error(
        "{path} was made on another host (machine id {found}, this is {here}); make a new plan here with --plan-out"
    )]
    OtherHost {
        path: PathBuf,
        found: String,
        here: String,
    },
    #[error(
        "{path} was made for another daemon ({found}, this engine is {here}); make a plan against this daemon with --plan-out"
    )]
    OtherEngine {
        path: PathBuf,
        found: String,
        here: String,
    },
    #[error(
        "{path} was made for the engine {found}, which does not answer now, so it cannot be confirmed as the same daemon; nothing was done: try again when it answers, or make a new plan"
    )]
    EngineSilent { path: PathBuf, found: String },
    #[error(
        "{path} holds a step `dockhand {command}` never plans ({why}); the plan is refused and nothing was done"
    )]
    Forbidden {
        path: PathBuf,
        command: String,
        why: String,
    },
    #[error(
        "the plan key {path}: {why}; run as root, or pass the --state-dir the plan was made with"
    )]
    Key { path: PathBuf, why: String },
}

impl SavedPlanError {
    /// The exit code of a refusal: bad input (64), except an engine that cannot be asked (69).
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            SavedPlanError::EngineSilent { .. } => crate::exit::ExitCode::Unavailable,
            _ => crate::exit::ExitCode::Usage,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The key and the signature
// ---------------------------------------------------------------------------------------------

/// The state dir's plan key: 32 random bytes, made on first use (mode 0600). The state dir is
/// prepared (root's, 0700) by the caller.
pub fn plan_key(state_dir: &Path) -> Result<Vec<u8>, SavedPlanError> {
    let path = state_dir.join(KEY_FILE);
    let err = |why: String| SavedPlanError::Key {
        path: path.clone(),
        why,
    };
    match read_key(&path) {
        Ok(k) if k.len() >= 32 => return Ok(k),
        Ok(_) => return Err(err("it is shorter than 32 bytes".into())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(format!("cannot read it ({e})"))),
    }
    let mut key = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| err(format!("cannot read /dev/urandom ({e})")))?;
    crate::runtime::files::write_atomically(&path, 0o600, |w| w.write_all(&key))
        .map_err(|e| err(format!("cannot write it ({e})")))?;
    // Another run may have made one at the same time: whichever won is the key.
    read_key(&path).map_err(|e| err(format!("cannot read it ({e})")))
}

/// The key for a run that saves or applies a plan: the state dir is prepared (root's, 0700)
/// first, and both are bounded by `timeout` (a hung filesystem must not hang the run).
pub async fn key_for(state_dir: &Path, timeout: std::time::Duration) -> Result<Vec<u8>, String> {
    let dir = state_dir.to_path_buf();
    let got = crate::runtime::blocking(timeout, move || {
        super::prepare_state_dir(&dir).map_err(|e| {
            format!(
                "{e}; saved plans are signed with a key kept in the state dir: run as root, or pass a --state-dir this user may write"
            )
        })?;
        plan_key(&dir).map_err(|e| e.to_string())
    })
    .await;
    got.unwrap_or_else(|| {
        Err(format!(
            "the state dir {} did not answer within {}",
            state_dir.display(),
            crate::util::human_duration(timeout)
        ))
    })
}

/// What an acting command needs of saved plans for one run: the key (when it saves or applies
/// a plan), the live engine's identity, and the plan to apply, read and checked.
#[derive(Debug, Default)]
pub struct Prepared {
    pub key: Option<Vec<u8>>,
    pub engine_id: Option<String>,
    pub saved: Option<SavedPlan>,
}

/// The saved-plan prelude every acting command shares: the plan file is read first (one that
/// cannot be read or trusted is refused before the state dir is touched), then the key, the
/// engine's identity, and the checks of [`check`] against `want` (its `engine` is filled here).
/// The error is the sentence to print and the exit code.
pub async fn prepare(
    plan: Option<&Path>,
    plan_out: bool,
    state_dir: &Path,
    timeout: std::time::Duration,
    facts: &crate::facts::Facts,
    want: Expect<'_>,
) -> Result<Prepared, (String, crate::exit::ExitCode)> {
    let bytes = match plan {
        Some(path) => Some(read(path).map_err(|e| (e.to_string(), e.exit_code()))?),
        None => None,
    };
    if plan.is_none() && !plan_out {
        return Ok(Prepared::default());
    }
    let key = key_for(state_dir, timeout)
        .await
        .map_err(|e| (e, crate::exit::ExitCode::Usage))?;
    let engine_id = engine_identity(facts).await;
    let saved = match (plan, &bytes) {
        (Some(path), Some(bytes)) => {
            let want = Expect {
                engine: engine_id.as_deref(),
                ..want
            };
            Some(check(path, bytes, &key, &want).map_err(|e| (e.to_string(), e.exit_code()))?)
        }
        _ => None,
    };
    Ok(Prepared {
        key: Some(key),
        engine_id,
        saved,
    })
}

/// Whose state and plans these are: the engine's `/info` ID with its data root. The ID alone
/// does not tell two daemons on one host apart (Docker 20.10 derives it from the host's
/// /etc/docker/key.json); their data roots always differ. Podman's compat `/info` makes up a new
/// ID on every call, so a Podman engine is its graph root alone.
pub fn daemon_identity(
    info: &serde_json::Value,
    kind: crate::runtime::engine_kind::EngineKind,
) -> String {
    let id = info
        .get("ID")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown");
    let id = if kind.is_podman() { "podman" } else { id };
    match info
        .get("DockerRootDir")
        .and_then(serde_json::Value::as_str)
    {
        Some(root) => format!("{id}@{root}"),
        None => id.to_string(),
    }
}

/// The engine's identity as a plan records it and an applying run confirms it: `/info`'s ID
/// and data root (see [`daemon_identity`]), `None` when the engine does not answer.
pub async fn engine_identity(facts: &crate::facts::Facts) -> Option<String> {
    let info = facts.info().await.ok()?;
    Some(daemon_identity(info, facts.engine_kind().await))
}

/// Reads the key without following a symlink: a link planted in the state dir must not choose
/// the key.
fn read_key(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open_nofollow(path)?;
    let mut k = Vec::new();
    f.by_ref().take(4096).read_to_end(&mut k)?;
    Ok(k)
}

fn open_nofollow(path: &Path) -> io::Result<std::fs::File> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: a FIFO put in the plan's place must not hang the run.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(path)
}

/// HMAC-SHA-256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    mac(key, msg).finalize().into_bytes().into()
}

fn mac(key: &[u8], msg: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length: this never fails.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    m.update(msg);
    m
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The signed bytes of a plan document: its compact JSON without the `digest` field.
fn signed_bytes(doc: &Value) -> Vec<u8> {
    let mut d = doc.clone();
    if let Some(o) = d.as_object_mut() {
        o.remove("digest");
    }
    serde_json::to_vec(&d).unwrap_or_default()
}

/// Whether `doc`'s digest is the key's (compared in constant time).
fn signature_holds(doc: &Value, key: &[u8]) -> bool {
    let Some(claimed) = doc["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("hmac-sha256:"))
        .and_then(unhex)
    else {
        return false;
    };
    mac(key, &signed_bytes(doc)).verify_slice(&claimed).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Saving and loading
// ---------------------------------------------------------------------------------------------

/// Writes `saved` to `path`, signed: atomically, and 0600 from its creation (a plan names
/// pids and paths of the host).
pub fn save(path: &Path, saved: &SavedPlan, key: &[u8]) -> io::Result<()> {
    // A plan that names no host could never be applied: say so now, not at apply time.
    if saved.host.as_deref().is_none_or(str::is_empty) {
        return Err(io::Error::other(
            "this host has no /etc/machine-id, and a plan is bound to the machine it is made on; run `systemd-machine-id-setup` (or write one)",
        ));
    }
    let mut doc = serde_json::to_value(saved).map_err(io::Error::other)?;
    let digest = format!(
        "hmac-sha256:{}",
        hex(&hmac_sha256(key, &signed_bytes(&doc)))
    );
    if let Some(o) = doc.as_object_mut() {
        o.insert("digest".into(), Value::String(digest));
    }
    crate::runtime::files::write_atomically(path, 0o600, |w| {
        serde_json::to_writer_pretty(&mut *w, &doc).map_err(io::Error::other)?;
        w.write_all(b"\n")
    })
}

/// Reads and checks a saved plan: the file ([`read`]), then [`check`].
pub fn load(path: &Path, key: &[u8], want: &Expect<'_>) -> Result<SavedPlan, SavedPlanError> {
    check(path, &read(path)?, key, want)
}

/// Reads a plan file's bytes, refusing a file that is not one dockhand may trust (see
/// [`file_is_safe`]). Done before the state dir is touched: a mistyped path costs nothing.
pub fn read(path: &Path) -> Result<Vec<u8>, SavedPlanError> {
    let p = path.to_path_buf();
    let mut f = open_nofollow(path).map_err(|e| match e.raw_os_error() {
        Some(code) if code == nix::errno::Errno::ELOOP as i32 => SavedPlanError::Unsafe {
            path: p.clone(),
            why: "it is a symbolic link".into(),
        },
        _ => SavedPlanError::Unreadable {
            path: p.clone(),
            why: e.to_string(),
        },
    })?;
    let meta = f.metadata().map_err(|e| SavedPlanError::Unreadable {
        path: p.clone(),
        why: e.to_string(),
    })?;
    file_is_safe(&meta, nix::unistd::geteuid().as_raw()).map_err(|why| SavedPlanError::Unsafe {
        path: p.clone(),
        why,
    })?;
    let mut bytes = Vec::new();
    f.by_ref()
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SavedPlanError::Unreadable {
            path: p.clone(),
            why: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(SavedPlanError::NotAPlan {
            path: p,
            why: format!("larger than {} MiB", MAX_BYTES >> 20),
        });
    }
    Ok(bytes)
}

/// The file itself: a regular file, owned by root or the running user, writable by no one
/// else. Another user's file, or one anyone may rewrite, may say anything.
pub fn file_is_safe(meta: &std::fs::Metadata, euid: u32) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link".into());
    }
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(format!("it is owned by uid {}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "its mode {:04o} lets others write it",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

// Long on purpose: the refusals in the order a file is read, each one sentence, none skipped.
/// The checks of [`load`] on a file's bytes (for tests and fuzzing): never panics.
pub fn check(
    path: &Path,
    bytes: &[u8],
    key: &[u8],
    want: &Expect<'_>,
) -> Result<SavedPlan, SavedPlanError> {
    let p = path.to_path_buf();
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| SavedPlanError::NotAPlan {
        path: p.clone(),
        why: format!("not JSON: {e}"),
    })?;
    let schema = doc["schema"].as_str().unwrap_or("").to_string();
    if schema != PLAN_SCHEMA {
        if schema.is_empty() {
            return Err(SavedPlanError::NotAPlan {
                path: p,
                why: "it has no schema field".into(),
            });
        }
        return Err(SavedPlanError::Schema {
            path: p,
            found: sanitize(&schema),
        });
    }
    if !signature_holds(&doc, key) {
        return Err(SavedPlanError::Tampered { path: p });
    }
    let mut doc = doc;
    if let Some(o) = doc.as_object_mut() {
        o.remove("digest");
    }
    let saved: SavedPlan = serde_json::from_value(doc).map_err(|e| SavedPlanError::NotAPlan {
        path: p.clone(),
        why: e.to_string(),
    })?;
    if saved.command != want.command {
        return Err(SavedPlanError::OtherCommand {
            path: p,
            found: sanitize(&saved.command),
            want: want.command.to_string(),
        });
    }
    if saved.subject.as_deref() != want.subject {
        return Err(SavedPlanError::OtherSubject {
            path: p,
            found: saved
                .subject
                .as_deref()
                .map_or_else(|| "nothing".into(), sanitize),
            want: want.subject.unwrap_or("nothing").to_string(),
        });
    }
    let Some(found) = saved.host.as_deref().filter(|h| !h.is_empty()) else {
        return Err(SavedPlanError::NoHost { path: p });
    };
    let Some(here) = want.host else {
        return Err(SavedPlanError::NoMachineId { path: p });
    };
    if found != here {
        return Err(SavedPlanError::OtherHost {
            path: p,
            found: sanitize(found),
            here: here.to_string(),
        });
    }
    let force_foreign = saved.options["force_foreign"].as_bool().unwrap_or(false);
    for s in &saved.steps {
        if let Err(why) = allowed(&saved.command, &s.action, force_foreign) {
            return Err(SavedPlanError::Forbidden {
                path: p,
                command: sanitize(&saved.command),
                why,
            });
        }
    }
    let engine_named = |id: Option<&str>, endpoint: &str| match id {
        Some(id) => format!("{} at {}", sanitize(id), sanitize(endpoint)),
        None => format!("at {} (silent when planned)", sanitize(endpoint)),
    };
    if saved.engine.endpoint != want.endpoint {
        return Err(SavedPlanError::OtherEngine {
            path: p,
            found: engine_named(saved.engine.id.as_deref(), &saved.engine.endpoint),
            here: engine_named(want.engine, want.endpoint),
        });
    }
    match (saved.engine.id.as_deref(), want.engine) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => {}
        (Some(a), None) => {
            return Err(SavedPlanError::EngineSilent {
                path: p,
                found: sanitize(a),
            });
        }
        (a, b) => {
            return Err(SavedPlanError::OtherEngine {
                path: p,
                found: engine_named(a, &saved.engine.endpoint),
                here: engine_named(b, want.endpoint),
            });
        }
    }
    Ok(saved)
}

// ---------------------------------------------------------------------------------------------
// What each command may carry
// ---------------------------------------------------------------------------------------------

/// Whether `command` ever plans `action`: its kind, its scope, the shape of its path. A signed
/// plan holding anything else is refused whole — the signature proves who wrote a file, not
/// that the key never leaked, and this list is the same whatever the key. `force_foreign`:
/// the plan was made with `ports free --force-foreign` (the only plans that name any process).
pub fn allowed(command: &str, action: &Action, force_foreign: bool) -> Result<(), String> {
    let kind = action.kind();
    let no = |what: &str| Err(format!("{kind} {what}"));
    let process_scope = |scope: &Scope, any_ok: bool| match scope {
        Scope::DescendantOf(_) | Scope::DockerProgram => Ok(()),
        Scope::Any if any_ok => Ok(()),
        Scope::Any => no("on any process, not only Docker's own"),
    };
    match (command, action) {
        (
            "gc",
            Action::RemoveContainer { .. }
            | Action::RemoveImage { .. }
            | Action::UntagImage { .. }
            | Action::RemoveVolume { .. }
            | Action::RemoveNetwork { .. }
            | Action::PruneBuildCache { .. },
        ) => Ok(()),
        ("gc", Action::TruncateLog { path, .. }) => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if plain_absolute(path) && name.ends_with("-json.log") {
                Ok(())
            } else {
                no(&format!("of {}, not a container's log", shown(path)))
            }
        }
        ("reap", Action::Terminate { target, .. }) => process_scope(&target.scope, false),
        ("reap", Action::RemoveContainer { .. }) => Ok(()),
        ("reap", Action::RemoveFile { path, .. } | Action::RemoveTree { path, .. }) => {
            if tmp_entry(path)
                || (pidfile_like(path) && matches!(action, Action::RemoveFile { .. }))
            {
                Ok(())
            } else {
                no(&format!(
                    "of {}, outside the data root's tmp and the daemon's pid file",
                    shown(path)
                ))
            }
        }
        ("reap", Action::RewritePidfile { path, daemon, .. }) => {
            if !pidfile_like(path) {
                no(&format!("of {}, not a pid file", shown(path)))
            } else {
                process_scope(&daemon.scope, false)
            }
        }
        ("ports free", Action::StopContainer { .. }) => Ok(()),
        ("ports free", Action::Terminate { target, .. }) => {
            process_scope(&target.scope, force_foreign)
        }
        ("gc" | "reap" | "ports free", _) => no(&format!("on {}", action.target())),
        _ => Err(format!(
            "no saved plans are applied for `{}`",
            sanitize(command)
        )),
    }
}

fn shown(path: &Path) -> String {
    sanitize(&path.to_string_lossy())
}

/// An absolute path of plain names only (no `..`, no `.`).
fn plain_absolute(path: &Path) -> bool {
    path.is_absolute()
        && path
            .components()
            .skip(1)
            .all(|c| matches!(c, Component::Normal(_)))
}

/// `<data-root>/tmp/NAME` or `<data-root>/tmp-old`: the only places reap cleans. Which data
/// root is checked against the live engine's (see `reap`): this is the shape alone.
fn tmp_entry(path: &Path) -> bool {
    if !plain_absolute(path) {
        return false;
    }
    let parent_is_tmp = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|n| n == "tmp")
        && path
            .parent()
            .and_then(Path::parent)
            .is_some_and(|r| r != Path::new("/"));
    parent_is_tmp || path.file_name().is_some_and(|n| n == "tmp-old")
}

fn pidfile_like(path: &Path) -> bool {
    plain_absolute(path)
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".pid"))
}

// ---------------------------------------------------------------------------------------------
// Re-judging
// ---------------------------------------------------------------------------------------------

/// A step's identity across a saved plan and a plan made now: its kind and its object (the
/// process by pid and start time and scope, the file by path and inode) — not what is expected
/// of it (a grace period, a size), which the action itself re-checks.
pub fn step_key(a: &Action) -> String {
    let proc_key = |t: &super::ProcTarget| {
        format!(
            "{}:{} {}",
            t.id.pid,
            t.id.start_ticks,
            serde_json::to_string(&t.scope).unwrap_or_default()
        )
    };
    match a {
        Action::RemoveContainer { id, .. } => format!("container.remove {id}"),
        Action::StopContainer { id, .. } => format!("container.stop {id}"),
        Action::RemoveImage { id } => format!("image.remove {id}"),
        Action::UntagImage { reference, id } => format!("image.untag {reference} {id}"),
        Action::RemoveVolume { name } => format!("volume.remove {name}"),
        Action::RemoveNetwork { id, .. } => format!("network.remove {id}"),
        Action::PruneBuildCache { .. } => "buildcache.prune".into(),
        Action::Signal { target, signal } => {
            format!("process.signal {signal} {}", proc_key(target))
        }
        Action::Terminate { target, .. } => format!("process.terminate {}", proc_key(target)),
        Action::RemoveFile { path, stamp }
        | Action::RemoveTree { path, stamp }
        | Action::TruncateLog { path, stamp } => format!(
            "{} {} {}:{}",
            a.kind(),
            path.display(),
            stamp.dev,
            stamp.ino
        ),
        Action::RewritePidfile {
            path,
            stamp,
            daemon,
        } => format!(
            "file.rewrite-pid {} {}:{} {}",
            path.display(),
            stamp.dev,
            stamp.ino,
            proc_key(daemon)
        ),
        other => format!("{} {}", other.kind(), other.target()),
    }
}

/// The verdict on each saved step, against a plan made now from live facts by the same
/// command and options: `None` when a plan made now holds the same step (it goes, as saved,
/// and its action re-verifies the object itself), else why it stays.
pub struct Rejudged {
    now: HashSet<String>,
}

/// Re-judges a saved plan against `now`, a plan made for this run.
pub fn rejudge(now: &Plan) -> Rejudged {
    Rejudged {
        now: now.steps.iter().map(|s| step_key(&s.action)).collect(),
    }
}

impl Rejudged {
    /// Why `step` of the saved plan is not applied now, or `None` when it is.
    pub fn why_not(&self, step: &Step) -> Option<String> {
        if self.now.contains(&step_key(&step.action)) {
            return None;
        }
        let target = match &step.action {
            Action::Terminate { target, .. } | Action::Signal { target, .. } => Some(target),
            Action::RewritePidfile { daemon, .. } => Some(daemon),
            _ => None,
        };
        if let Some(t) = target {
            match super::process::observe(t.id.pid) {
                Some(o) if o.start_ticks != t.id.start_ticks => {
                    return Some(format!(
                        "pid {} is now another process (started after the plan); a plan made now does not hold this step",
                        t.id.pid
                    ));
                }
                None => {
                    return Some(format!(
                        "pid {} is gone since the plan; a plan made now does not hold this step",
                        t.id.pid
                    ));
                }
                _ => {}
            }
        }
        Some(
            "no longer judged so: a plan made now from the host as it is does not hold this step"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::plan::{DaemonStart, FileStamp};
    use crate::actions::{ProcId, ProcTarget};

    const STAMP: FileStamp = FileStamp {
        dev: 1,
        ino: 2,
        mtime_ns: 3,
        size: 4,
    };

    fn tmp_step() -> Step {
        Step::new(
            Action::RemoveFile {
                path: "/var/lib/docker/tmp/GetImageBlob1".into(),
                stamp: STAMP,
            },
            "no process holds it open; 3 h old",
        )
    }

    fn engine() -> EngineDoc {
        EngineDoc {
            endpoint: "unix:///var/run/docker.sock".into(),
            id: Some("K:E:Y@/var/lib/docker".into()),
        }
    }

    fn want<'a>(command: &'a str, subject: Option<&'a str>) -> Expect<'a> {
        Expect {
            command,
            subject,
            host: Some("m1"),
            endpoint: "unix:///var/run/docker.sock",
            engine: Some("K:E:Y@/var/lib/docker"),
        }
    }

    const KEY: [u8; 32] = [7u8; 32];

    /// A plan of `steps` for reap on m1, signed with KEY, as the file's text.
    fn signed(command: &str, steps: Vec<Step>) -> String {
        let mut saved = SavedPlan::new(command, None, engine(), &Plan::new(steps));
        saved.host = Some("m1".into());
        sign_text(&saved, &KEY)
    }

    fn sign_text(saved: &SavedPlan, key: &[u8]) -> String {
        let mut doc = serde_json::to_value(saved).expect("json");
        let d = format!(
            "hmac-sha256:{}",
            hex(&hmac_sha256(key, &signed_bytes(&doc)))
        );
        doc.as_object_mut()
            .expect("object")
            .insert("digest".into(), Value::String(d));
        serde_json::to_string_pretty(&doc).expect("text")
    }

    fn chk(text: &str, w: &Expect<'_>) -> Result<SavedPlan, SavedPlanError> {
        check(Path::new("/tmp/p.json"), text.as_bytes(), &KEY, w)
    }

    fn proc(scope: Scope) -> ProcTarget {
        ProcTarget {
            id: ProcId {
                pid: 9,
                start_ticks: 1,
            },
            exe: None,
            comm: "docker-proxy".into(),
            scope,
        }
    }

    #[test]
    fn a_signed_plan_round_trips_and_is_bound_to_command_host_and_engine() {
        let text = signed("reap", vec![tmp_step()]);
        let back = chk(&text, &want("reap", None)).expect("loads");
        assert_eq!(back.steps, vec![tmp_step()]);
        let cases: [(Expect<'_>, &str); 5] = [
            (want("gc", None), "dockhand reap"),
            (want("reap", Some("8080")), "made for nothing"),
            (
                Expect {
                    host: Some("m2"),
                    ..want("reap", None)
                },
                "another host",
            ),
            (
                Expect {
                    engine: Some("O:T:H@/var/lib/docker"),
                    ..want("reap", None)
                },
                "another daemon",
            ),
            (
                Expect {
                    endpoint: "unix:///run/other.sock",
                    ..want("reap", None)
                },
                "another daemon",
            ),
        ];
        for (w, needle) in cases {
            let e = chk(&text, &w).expect_err(needle).to_string();
            assert!(e.contains(needle) && e.contains("/tmp/p.json"), "{e}");
        }
        let e = chk(
            &text,
            &Expect {
                engine: None,
                ..want("reap", None)
            },
        )
        .expect_err("silent");
        assert!(matches!(e, SavedPlanError::EngineSilent { .. }), "{e}");
        assert_eq!(e.exit_code(), crate::exit::ExitCode::Unavailable);
        let e = chk(
            &text,
            &Expect {
                host: None,
                ..want("reap", None)
            },
        )
        .expect_err("no machine id");
        assert!(matches!(e, SavedPlanError::NoMachineId { .. }), "{e}");
    }

    #[test]
    fn a_tampered_or_foreign_signature_is_refused() {
        let text = signed("reap", vec![tmp_step()]);
        // One character of a step changed.
        let edited = text.replace("GetImageBlob1", "GetImageBlob2");
        assert_ne!(edited, text);
        assert!(matches!(
            chk(&edited, &want("reap", None)),
            Err(SavedPlanError::Tampered { .. })
        ));
        // Another key.
        let mut saved = SavedPlan::new("reap", None, engine(), &Plan::new(vec![tmp_step()]));
        saved.host = Some("m1".into());
        let other = sign_text(&saved, &[8u8; 32]);
        assert!(matches!(
            chk(&other, &want("reap", None)),
            Err(SavedPlanError::Tampered { .. })
        ));
        // No digest, a digest that is not hex, an empty one.
        let doc: Value = serde_json::from_str(&text).expect("json");
        for d in [Value::Null, "hmac-sha256:zz".into(), "hmac-sha256:".into()] {
            let mut x = doc.clone();
            x["digest"] = d;
            let t = serde_json::to_string(&x).expect("text");
            assert!(matches!(
                chk(&t, &want("reap", None)),
                Err(SavedPlanError::Tampered { .. })
            ));
        }
        // Whitespace does not matter; the content does.
        let compact = serde_json::to_string(&doc).expect("compact");
        assert!(chk(&compact, &want("reap", None)).is_ok());
        // An older schema, not a plan at all.
        let old = text.replace(PLAN_SCHEMA, "dockhand.plan/v1");
        let e = chk(&old, &want("reap", None))
            .expect_err("schema")
            .to_string();
        assert!(e.contains("dockhand.plan/v1"), "{e}");
        for bad in ["", "{}", "[1]", "{\"steps\":[]}"] {
            let e = chk(bad, &want("reap", None)).expect_err(bad).to_string();
            assert!(e.contains("--plan-out"), "{e}");
        }
    }

    #[test]
    fn a_plan_that_names_no_host_is_refused_even_when_signed() {
        let mut saved = SavedPlan::new("reap", None, engine(), &Plan::new(vec![tmp_step()]));
        saved.host = None;
        let text = sign_text(&saved, &KEY);
        let e = chk(&text, &want("reap", None)).expect_err("no host");
        assert!(matches!(e, SavedPlanError::NoHost { .. }), "{e}");
        saved.host = Some(String::new());
        let text = sign_text(&saved, &KEY);
        assert!(matches!(
            chk(&text, &want("reap", None)),
            Err(SavedPlanError::NoHost { .. })
        ));
    }

    #[test]
    fn a_correctly_signed_plan_with_a_kind_its_command_never_plans_is_refused() {
        let start = Step::new(
            Action::StartDaemon {
                how: DaemonStart::Command {
                    argv: vec!["/bin/sh".into(), "-c".into(), "id > /tmp/x".into()],
                    log: None,
                },
            },
            "x",
        );
        let any = Step::new(
            Action::Terminate {
                target: proc(Scope::Any),
                grace: std::time::Duration::from_secs(1),
            },
            "x",
        );
        let etc = Step::new(
            Action::RemoveTree {
                path: "/etc".into(),
                stamp: STAMP,
            },
            "x",
        );
        let dotdot = Step::new(
            Action::RemoveFile {
                path: "/var/lib/docker/tmp/../../../etc/shadow".into(),
                stamp: STAMP,
            },
            "x",
        );
        let signal = Step::new(
            Action::Signal {
                target: proc(Scope::DockerProgram),
                signal: "SIGKILL".into(),
            },
            "x",
        );
        for (cmd, step) in [
            ("reap", &start),
            ("reap", &any),
            ("reap", &etc),
            ("reap", &dotdot),
            ("reap", &signal),
            ("ports free", &start),
            ("ports free", &any),
            ("ports free", &etc),
            ("gc", &start),
            ("gc", &any),
        ] {
            let mut saved = SavedPlan::new(
                cmd,
                None,
                engine(),
                &Plan::new(vec![tmp_step(), step.clone()]),
            );
            saved.host = Some("m1".into());
            let text = sign_text(&saved, &KEY);
            let e = chk(&text, &want(cmd, None)).expect_err(cmd);
            assert!(matches!(e, SavedPlanError::Forbidden { .. }), "{cmd}: {e}");
            assert!(e.to_string().contains("nothing was done"), "{e}");
        }
        // What each command does plan passes.
        let ok = [
            (
                "reap",
                Action::Terminate {
                    target: proc(Scope::DockerProgram),
                    grace: std::time::Duration::from_secs(1),
                },
            ),
            (
                "reap",
                Action::RemoveTree {
                    path: "/var/lib/docker/tmp-old".into(),
                    stamp: STAMP,
                },
            ),
            (
                "reap",
                Action::RemoveFile {
                    path: "/var/run/docker.pid".into(),
                    stamp: STAMP,
                },
            ),
            (
                "ports free",
                Action::StopContainer {
                    id: "c1".into(),
                    name: "web".into(),
                    timeout_s: 10,
                },
            ),
        ];
        for (cmd, a) in ok {
            assert_eq!(allowed(cmd, &a, false), Ok(()), "{cmd} {a:?}");
        }
        // ports free names any process only when made with --force-foreign.
        let a = Action::Terminate {
            target: proc(Scope::Any),
            grace: std::time::Duration::from_secs(1),
        };
        assert!(allowed("ports free", &a, false).is_err());
        assert!(allowed("ports free", &a, true).is_ok());
        assert!(allowed("reap", &a, true).is_err());
        assert!(allowed("recover", &a, true).is_err());
    }

    #[test]
    fn files_are_refused_unless_a_private_regular_file_of_root_or_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dockhand-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let key = plan_key(&dir).expect("key");
        assert_eq!(plan_key(&dir).expect("again"), key, "made once");
        let f = dir.join("plan.json");
        let mut saved = SavedPlan::new("reap", None, engine(), &Plan::new(vec![tmp_step()]));
        saved.host = Some("m1".into());
        save(&f, &saved, &key).expect("save");
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load(&f, &key, &want("reap", None)).expect("load");
        assert_eq!(back.steps, saved.steps);
        // Writable by the group or the world.
        for m in [0o620, 0o602, 0o666] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(m)).expect("chmod");
            let e = load(&f, &key, &want("reap", None)).expect_err("mode");
            assert!(matches!(e, SavedPlanError::Unsafe { .. }), "{e}");
        }
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(load(&f, &key, &want("reap", None)).is_ok());
        // A symlink to a good plan.
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&f, &link).expect("symlink");
        let e = load(&link, &key, &want("reap", None)).expect_err("symlink");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // Owned by someone else: judged on the metadata (chown needs root).
        let meta = std::fs::metadata(&f).expect("meta");
        use std::os::unix::fs::MetadataExt;
        assert!(file_is_safe(&meta, meta.uid()).is_ok());
        if meta.uid() != 0 {
            assert!(file_is_safe(&meta, meta.uid() + 1).is_err());
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn saved_steps_go_only_when_a_plan_made_now_holds_them() {
        let term = |pid: i32, ticks: u64| {
            Step::new(
                Action::Terminate {
                    target: ProcTarget {
                        id: ProcId {
                            pid,
                            start_ticks: ticks,
                        },
                        ..proc(Scope::DockerProgram)
                    },
                    grace: std::time::Duration::from_secs(1),
                },
                "leaked",
            )
        };
        let mut later = tmp_step();
        if let Action::RemoveFile { stamp, .. } = &mut later.action {
            stamp.mtime_ns += 5;
        }
        let now = rejudge(&Plan::new(vec![term(9, 1), later]));
        assert_eq!(now.why_not(&term(9, 1)), None);
        // The same file, written since: the action's own re-check decides.
        assert_eq!(now.why_not(&tmp_step()), None);
        // Not held now.
        assert!(now.why_not(&term(9, 2)).is_some());
        // The same pid in another scope is another step.
        let mut wider = term(9, 1);
        if let Action::Terminate { target, .. } = &mut wider.action {
            target.scope = Scope::Any;
        }
        assert!(now.why_not(&wider).is_some());
    }

    proptest::proptest! {
        /// Any bytes are refused or read, never a panic; and a signed plan with any one byte
        /// changed is never read as other steps than the ones signed.
        #[test]
        fn no_edit_of_a_signed_plan_is_applied(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            at in 0usize..4096,
            byte in proptest::prelude::any::<u8>(),
        ) {
            let _ = chk(&String::from_utf8_lossy(&junk), &want("reap", None));
            let text = signed("reap", vec![tmp_step()]);
            let mut bytes = text.clone().into_bytes();
            let i = at % bytes.len();
            bytes[i] = byte;
            if let Ok(p) = check(Path::new("/tmp/p.json"), &bytes, &KEY, &want("reap", None)) {
                proptest::prop_assert_eq!(p.steps, vec![tmp_step()]);
            }
        }
    }

    #[test]
    fn reading_any_bytes_never_panics() {
        for text in [
            "\u{0}",
            "{\"schema\":1}",
            "{\"schema\":\"dockhand.plan/v2\",\"digest\":7}",
        ] {
            let _ = chk(text, &want("reap", None));
        }
    }
}
