#![no_main]
//! Saved plans of gc, reap and ports free (`--apply-plan FILE`, `--apply --plan FILE`): the
//! bytes as written (the signature check itself), then re-signed with a known key so that every
//! later check runs — command, host, engine, each command's allowlist, gc's policy.
use dockhand::fuzz_api::{Expect, allowed, check, hmac_sha256};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::path::Path;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fn signed(data: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(data) else {
        return data.to_vec();
    };
    let mut unsigned = v.clone();
    if let Some(o) = unsigned.as_object_mut() {
        o.remove("digest");
    }
    let msg = serde_json::to_vec(&unsigned).unwrap_or_default();
    let hex: String = hmac_sha256(KEY, &msg)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect();
    if let Some(o) = v.as_object_mut() {
        o.insert("digest".into(), Value::String(format!("hmac-sha256:{hex}")));
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let path = Path::new("/tmp/p.json");
    let resigned = signed(data);
    for (command, subject) in [("reap", None), ("ports free", Some("8080")), ("gc", None)] {
        let want = Expect {
            command,
            subject,
            host: Some("m1"),
            endpoint: "unix:///var/run/docker.sock",
            engine: Some("ID@/var/lib/docker"),
        };
        let _ = check(path, data, KEY, &want);
        if let Ok(saved) = check(path, &resigned, KEY, &want) {
            for step in &saved.plan().steps {
                let _ = allowed(command, &step.action, false);
            }
            if command == "gc"
                && let Ok(doc) = dockhand::fuzz_api::policy_of(&saved)
            {
                let _ = doc.policy();
            }
        }
    }
});
