#![no_main]
//! daemon.json: byte-order marks, UTF-16, keys dockhand checks.
use dockhand::fuzz_api as config;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let _ = config::parse_daemon_json(data);
    let t = String::from_utf8_lossy(data);
    let _ = config::line_of(&t, "data-root");
    if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(data) {
        let _ = (
            config::checked_keys(&m),
            config::unknown_keys(&m),
            config::parent_of(&m, "max-size"),
        );
    }
});
