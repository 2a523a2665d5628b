//! What the fuzz targets in `fuzz/` call, in one place. Compiled only under `--cfg fuzzing`
//! (cargo-fuzz sets it for every crate it builds), so the modules these items live in stay
//! crate-private in every normal build and their dead code still warns. A target that needs
//! another parser adds its re-export here; the item must be `pub` in its own module.

// The config file (target `config`).
pub use crate::catalog::Catalog;
pub use crate::config::parse as parse_config;

// daemon.json (target `daemon_json`).
pub use crate::policy::daemon::config::{
    checked_keys, line_of, parent_of, parse_daemon_json, unknown_keys,
};

// The storage map's totals (target `df`) and the engine's API version (target `engine_json`).
pub use crate::facts::storage_map::account::{ImageIn, images};
pub use crate::facts::storage_map::{
    ContainerRow, VolumeRow, containers_part, parse_api, volumes_part,
};

// Endpoint resolution (target `docker_context`).
pub use crate::runtime::endpoint::{Inputs, parse_host, resolve};

// The engine's answers and the credential store (target `engine_json`).
pub use crate::pull::auth::{lookup as auth_lookup, parse_helper as parse_auth_helper};
pub use crate::runtime::inventory::{Container, ContainerRecord, Image, Network, Volume};

// The journal (target `journal`).
pub use crate::actions::journal::parse as parse_journal;

// The streamed array reader (target `json_array`).
pub use crate::runtime::json_array::ArraySplitter;

// Pid files (target `pidfile`).
pub use crate::policy::daemon::pidfile::pidfile_repair;
pub use crate::runtime::pidfile::classify_pidfile;

// /proc, command lines and netlink (target `proc`).
pub use crate::policy::addresses::in_subnet;
pub use crate::policy::processes::parse_conmon;
pub use crate::runtime::containerd::{parse_shim, parse_task_ids};
pub use crate::runtime::daemon::paths_from;
pub use crate::runtime::host::{parse_mounts_under, parse_passwd};
pub use crate::runtime::net::{Proto, go_flag, parse_docker_proxy, parse_ns_link};
pub use crate::runtime::proc::{parse_socket_link, parse_stat};
pub use crate::runtime::sockdiag::parse as parse_sockdiag;

// A pull's progress stream (target `pull_progress`).
pub use crate::runtime::pull_progress::{Line as PullLine, State as PullState};

// Image references (target `reference`).
pub use crate::pull::reference::parse as parse_reference;

// Saved plans (target `saved_plan`).
pub use crate::actions::saved_plan::{Expect, allowed, check, hmac_sha256};
pub use crate::gc::plan::policy_of;

// Values a user types (target `values`).
pub use crate::gc::options::{parse_age, parse_count, parse_percent, parse_size, parse_types};
pub use crate::ports::parse_port;
pub use crate::serve::http::route;
pub use crate::serve::{parse_interval, parse_listen};
pub use crate::units::{parse_duration, parse_instant, parse_rfc3339, parse_since};
pub use crate::util::{human_age, human_bytes, human_duration, split_words};
