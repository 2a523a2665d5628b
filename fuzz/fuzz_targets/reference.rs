#![no_main]
//! Image references (`dockhand pull IMAGE`).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = dockhand::fuzz_api::parse_reference(&String::from_utf8_lossy(data)) {
        let _ = (r.auth_key(), r.shown());
    }
});
