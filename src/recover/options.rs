//! The options of one recovery, as plain data: built by `recover` from its flags and by `pull
//! --recover` from its own, so neither command needs the other's clap struct.

use std::path::PathBuf;
use std::time::Duration;

use crate::settings::Settings;

/// The margin on top of the containers' stop time in the default grace.
pub const GRACE_MARGIN: Duration = Duration::from_secs(10);

/// How long a restarted daemon may take to answer and list its containers, unless told.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The options of one recover run, validated.
#[derive(Debug, Clone)]
pub struct Options {
    pub apply: bool,
    pub force: bool,
    pub allow_container_stop: bool,
    /// The daemon's command line and where it came from ("--start-cmd" or "config").
    pub start_cmd: Option<(Vec<String>, &'static str)>,
    /// The daemon's log file and where it came from ("--log-file" or "config").
    pub log_file: Option<(PathBuf, &'static str)>,
    pub grace: Option<Duration>,
    pub start_timeout: Duration,
    pub bundle: bool,
    /// Say each step on stderr as it ends.
    pub progress: bool,
}

impl Options {
    /// The options with the start command and log file from the flags, else the config file;
    /// everything else at its default (a dry run, no force, a bundle, progress said).
    pub fn new(
        settings: &Settings,
        start_cmd: Option<&str>,
        log_file: Option<PathBuf>,
    ) -> Result<Options, String> {
        let start_cmd = match (start_cmd, &settings.config.recover.start_cmd) {
            (Some(s), _) => Some((parse_start_cmd(s)?, "--start-cmd")),
            (None, Some(w)) => Some((w.clone(), "config")),
            (None, None) => None,
        };
        let log_file = match (log_file, &settings.config.recover.log_file) {
            (Some(p), _) => Some((p, "--log-file")),
            (None, Some(p)) => Some((p.clone(), "config")),
            (None, None) => None,
        };
        Ok(Options {
            apply: false,
            force: false,
            allow_container_stop: false,
            start_cmd,
            log_file,
            grace: None,
            start_timeout: START_TIMEOUT,
            bundle: true,
            progress: true,
        })
    }
}

/// `--start-cmd`, split as a shell would (no expansions): one sentence when it cannot be.
fn parse_start_cmd(s: &str) -> Result<Vec<String>, String> {
    let words = crate::util::split_words(s)
        .map_err(|why| format!("--start-cmd: {why}; quote it as a shell would"))?;
    if words.is_empty() {
        return Err("--start-cmd is empty; give the daemon's command line, e.g. --start-cmd 'dockerd --config-file /etc/docker/daemon.json'".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_command_is_split_as_a_shell_would_and_an_empty_one_is_refused() {
        assert_eq!(
            parse_start_cmd("dockerd --config-file '/etc/my docker/daemon.json'"),
            Ok(vec![
                "dockerd".to_string(),
                "--config-file".into(),
                "/etc/my docker/daemon.json".into()
            ])
        );
        let empty = parse_start_cmd("  ").err().unwrap_or_default();
        assert!(empty.contains("--start-cmd is empty"), "{empty}");
        let open = parse_start_cmd("dockerd 'open").err().unwrap_or_default();
        assert!(open.contains("quote it"), "{open}");
    }
}
