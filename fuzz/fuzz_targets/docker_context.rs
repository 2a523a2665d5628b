#![no_main]
//! Endpoint resolution: DOCKER_HOST values, the docker config and a context meta.json
//! (input: host NUL config.json NUL meta.json).
use dockhand::fuzz_api::{Inputs, parse_host, resolve};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let host = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let config = parts.next().unwrap_or_default();
    let meta = parts.next().unwrap_or_default();
    if let Ok(ep) = parse_host(&host, "--host", &Inputs::default()) {
        let _ = ep.is_local();
        let _ = ep.socket_path();
    }
    let dir = std::env::temp_dir().join(format!("dockhand-fuzz-context-{}", std::process::id()));
    let meta_dir = dir.join("contexts/meta/0123");
    if std::fs::create_dir_all(&meta_dir).is_err()
        || std::fs::write(dir.join("config.json"), config).is_err()
        || std::fs::write(meta_dir.join("meta.json"), meta).is_err()
    {
        return;
    }
    let _ = resolve(&Inputs {
        config_dir: Some(dir.clone()),
        ..Inputs::default()
    });
    let _ = resolve(&Inputs {
        flag_context: Some("remote".into()),
        config_dir: Some(dir),
        ..Inputs::default()
    });
});
