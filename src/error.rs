//! Errors that end a run before any check runs: bad input. Each message names the value and
//! what would work; each maps to the usage exit code.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(
        "{what} {value:?} is not an engine address: {why}; use unix:///path/to/docker.sock or tcp://host:port"
    )]
    BadHost {
        what: String,
        value: String,
        why: String,
    },

    #[error(
        "docker context {name:?} was not found under $DOCKER_CONFIG/contexts/meta; list contexts with `docker context ls`, or pass --host"
    )]
    UnknownContext { name: String },

    #[error("{path}: not valid JSON ({why}); fix the file or pass --host")]
    BadDockerConfig { path: PathBuf, why: String },

    #[error("--timeout {value:?} is not a duration: {why}; use e.g. 3s, 500ms, 1.5s or 2m")]
    BadTimeout { value: String, why: String },

    #[error("unknown check {id:?} in {flag}; valid checks: {valid}")]
    UnknownCheck {
        id: String,
        flag: String,
        valid: String,
    },

    #[error("{path}:{line}: {what}")]
    BadConfig {
        path: PathBuf,
        line: usize,
        what: String,
    },

    #[error("cannot read config file {path}: {why}")]
    UnreadableConfig { path: PathBuf, why: String },

    #[error("--textfile {path}: {why}")]
    BadOutput { path: PathBuf, why: String },
}
