#![no_main]
use dockhand::fuzz_api::ArraySplitter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut s = ArraySplitter::with_limit(256);
    let cut = data.first().copied().unwrap_or(0) as usize % (data.len() + 1);
    for piece in [&data[..cut], &data[cut..]] {
        if s.feed(piece, |_| Ok::<(), ()>(())).is_err() {
            return;
        }
        assert!(s.buffered() <= 256);
    }
    let _ = s.finish();
});
