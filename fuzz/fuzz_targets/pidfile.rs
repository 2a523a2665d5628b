#![no_main]
//! Pid files, as dockerd and dockhand read them.
use dockhand::fuzz_api::{classify_pidfile, pidfile_repair};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    let state = classify_pidfile(Ok(Some(text)), Some(1234), |pid| {
        (pid % 2 == 0).then_some(true)
    });
    let _ = pidfile_repair(&state, Some(1234));
});
