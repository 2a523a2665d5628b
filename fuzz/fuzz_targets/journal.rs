#![no_main]
//! The journal, torn by a crash or edited by hand.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dockhand::actions::journal::parse(std::io::Cursor::new(data));
});
