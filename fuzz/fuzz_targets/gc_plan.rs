#![no_main]
//! gc plan files, re-signed with a known key so that the parse reaches past the digest.
use dockhand::gc::plan;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let file =
        std::env::temp_dir().join(format!("dockhand-fuzz-gc-plan-{}.json", std::process::id()));
    let mut bytes = data.to_vec();
    if let Ok(mut v) = serde_json::from_slice::<Value>(data) {
        let mut unsigned = v.clone();
        if let Some(o) = unsigned.as_object_mut() {
            o.remove("digest");
        }
        let msg = serde_json::to_vec(&unsigned).unwrap_or_default();
        let hex: String = plan::hmac_sha256(KEY, &msg)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect();
        if let Some(o) = v.as_object_mut() {
            o.insert("digest".into(), Value::String(format!("hmac-sha256:{hex}")));
        }
        bytes = serde_json::to_vec(&v).unwrap_or_default();
    }
    if std::fs::write(&file, &bytes).is_ok() {
        for host in [None, Some("m1")] {
            if let Ok(f) = plan::load(&file, KEY, host, "ID@/var/lib/docker") {
                let _ = f.policy.policy();
            }
        }
    }
});
