//! Plans saved by a dry run (`--plan-out FILE`) and applied later (`--apply --plan FILE`):
//! exactly the steps in the file, each re-verified just before it acts, so a process that exited
//! and whose pid was reused since, a file rewritten since, a container started since, is
//! skipped and reported — never acted on.
//!
//! The file is one JSON document (`dockhand.plan/v1`): the command that made it, where (the
//! machine id and the engine address), when, and the steps as [`Step`] serialises them.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::plan::{PLAN_SCHEMA, Plan, Step};

/// A plan as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub schema: String,
    /// The command that made it: `reap`, `ports free`.
    pub command: String,
    /// The command's own subject, when it has one (`ports free`'s port).
    #[serde(default)]
    pub subject: Option<String>,
    pub created_at: String,
    /// `/etc/machine-id` of the host it was made on.
    pub host: Option<String>,
    pub endpoint: String,
    pub steps: Vec<Step>,
}

/// Why a saved plan cannot be applied. Each is one sentence naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot read the plan {path}: {err}; pass a file written by --plan-out")]
    Read { path: PathBuf, err: io::Error },
    #[error("{path} is not a dockhand plan ({why}); pass a file written by --plan-out")]
    Malformed { path: PathBuf, why: String },
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
        "{path} was made on another host (machine id {found}, this is {here}); make a new plan here with --plan-out"
    )]
    OtherHost {
        path: PathBuf,
        found: String,
        here: String,
    },
}

impl SavedPlan {
    pub fn new(command: &str, subject: Option<String>, endpoint: &str, plan: &Plan) -> SavedPlan {
        SavedPlan {
            schema: PLAN_SCHEMA.to_string(),
            command: command.to_string(),
            subject,
            created_at: crate::util::rfc3339(std::time::SystemTime::now()),
            host: super::journal::machine_id(),
            endpoint: endpoint.to_string(),
            steps: plan.steps.clone(),
        }
    }

    pub fn plan(&self) -> Plan {
        Plan::new(self.steps.clone())
    }
}

/// Writes `saved` to `path` atomically (a temporary file renamed over it), mode 0600 from its
/// creation: a plan names pids and paths of the host.
pub fn save(path: &Path, saved: &SavedPlan) -> io::Result<()> {
    crate::runtime::files::write_atomically(path, 0o600, |out| {
        serde_json::to_writer_pretty(&mut *out, saved).map_err(io::Error::other)?;
        writeln!(out)
    })
}

/// Reads a saved plan for `command` (and `subject`, when the command has one) on this host.
pub fn load(
    path: &Path,
    command: &str,
    subject: Option<&str>,
) -> Result<SavedPlan, SavedPlanError> {
    let text = std::fs::read_to_string(path).map_err(|err| SavedPlanError::Read {
        path: path.to_path_buf(),
        err,
    })?;
    parse(
        path,
        &text,
        command,
        subject,
        super::journal::machine_id().as_deref(),
    )
}

/// The checks of [`load`] on text, with the machine id passed in (for tests).
pub fn parse(
    path: &Path,
    text: &str,
    command: &str,
    subject: Option<&str>,
    here: Option<&str>,
) -> Result<SavedPlan, SavedPlanError> {
    let saved: SavedPlan = serde_json::from_str(text).map_err(|e| SavedPlanError::Malformed {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    if saved.schema != PLAN_SCHEMA {
        return Err(SavedPlanError::Malformed {
            path: path.to_path_buf(),
            why: format!("schema {:?}, expected {PLAN_SCHEMA}", saved.schema),
        });
    }
    if saved.command != command {
        return Err(SavedPlanError::OtherCommand {
            path: path.to_path_buf(),
            found: saved.command,
            want: command.to_string(),
        });
    }
    if let Some(want) = subject
        && saved.subject.as_deref() != Some(want)
    {
        return Err(SavedPlanError::OtherSubject {
            path: path.to_path_buf(),
            found: saved.subject.unwrap_or_else(|| "nothing".into()),
            want: want.to_string(),
        });
    }
    if let (Some(found), Some(here)) = (saved.host.as_deref(), here)
        && found != here
    {
        return Err(SavedPlanError::OtherHost {
            path: path.to_path_buf(),
            found: found.to_string(),
            here: here.to_string(),
        });
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::plan::{Action, FileStamp};

    fn plan() -> Plan {
        Plan::new(vec![Step::new(
            Action::RemoveFile {
                path: "/var/lib/docker/tmp/GetImageBlob1".into(),
                stamp: FileStamp {
                    dev: 1,
                    ino: 2,
                    mtime_ns: 3,
                    size: 4,
                },
            },
            "no process holds it open; 3 h old",
        )])
    }

    #[test]
    fn a_saved_plan_round_trips_and_is_checked_on_load() {
        let p = Path::new("/tmp/p.json");
        let mut saved = SavedPlan::new("reap", None, "unix:///var/run/docker.sock", &plan());
        saved.host = Some("m1".into());
        let text = serde_json::to_string(&saved).expect("json");
        let back = parse(p, &text, "reap", None, Some("m1")).expect("loads");
        assert_eq!(back, saved);
        assert_eq!(back.plan(), plan());
        // (command, subject, host, the error names)
        let cases = [
            ("gc", None, Some("m1"), "dockhand reap"),
            ("reap", None, Some("m2"), "another host"),
            ("reap", Some("8080"), Some("m1"), "made for nothing"),
        ];
        for (cmd, subject, host, want) in cases {
            let e = parse(p, &text, cmd, subject, host)
                .expect_err(cmd)
                .to_string();
            assert!(e.contains(want) && e.contains("/tmp/p.json"), "{e}");
        }
        // An unknown host on either side is not a mismatch.
        assert!(parse(p, &text, "reap", None, None).is_ok());
        for bad in ["", "{}", r#"{"schema":"dockhand.plan/v2"}"#] {
            let e = parse(p, bad, "reap", None, None)
                .expect_err(bad)
                .to_string();
            assert!(e.contains("--plan-out"), "{e}");
        }
    }

    #[test]
    fn saving_is_atomic_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("dockhand-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = dir.join("plan.json");
        let saved = SavedPlan::new("ports free", Some("8080".into()), "unix:///x", &plan());
        save(&f, &saved).expect("save");
        let mode = std::fs::metadata(&f).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load(&f, "ports free", Some("8080")).expect("load");
        assert_eq!(back.steps, saved.steps);
        let _ = std::fs::remove_dir_all(dir);
    }
}
