#![no_main]
//! Saved plans of reap and ports free (`--apply --plan FILE`).
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for (command, here) in [("reap", Some("m1")), ("ports free", None)] {
        let p = Path::new("/tmp/p.json");
        if let Ok(saved) = dockhand::actions::saved_plan::parse(p, &text, command, None, here) {
            let _ = saved.plan();
        }
    }
});
