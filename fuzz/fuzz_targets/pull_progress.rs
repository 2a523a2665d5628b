#![no_main]
//! A pull's progress stream, line by line into the pull's state.
use dockhand::fuzz_api::{PullLine as Line, PullState as State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut st = State::default();
    for l in data.split(|b| *b == b'\n') {
        if let Some(line) = Line::parse(&String::from_utf8_lossy(l)) {
            let _ = st.apply(&line);
        }
        let _ = st.downloaded();
    }
});
