#![no_main]
//! The journal, torn by a crash or edited by hand.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dockhand::fuzz_api::parse_journal(std::io::Cursor::new(data));
});
