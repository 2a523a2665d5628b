#![no_main]
//! Durations, sizes, percentages, times, ports, listen addresses and shell words.
use dockhand::fuzz_api as options;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let s = &*String::from_utf8_lossy(data);
    let _ = dockhand::fuzz_api::parse_duration(s);
    let _ = dockhand::fuzz_api::parse_interval(s);
    let _ = dockhand::fuzz_api::parse_listen(s);
    let _ = options::parse_age("--min-age", s);
    let _ = options::parse_size("--keep-storage", s);
    let _ = options::parse_percent("--high", s);
    let _ = options::parse_count("--keep-last", s, 1);
    let _ = options::parse_types("--types", s.split(','));
    let _ = dockhand::fuzz_api::parse_port(s);
    let _ = dockhand::fuzz_api::route(&hyper::Method::GET, s);
    let _ = dockhand::fuzz_api::parse_instant(s);
    let _ = dockhand::fuzz_api::parse_since(s, UNIX_EPOCH + Duration::from_secs(1 << 31));
    let _ = dockhand::fuzz_api::parse_rfc3339(s);
    let _ = dockhand::fuzz_api::split_words(s);
    let n = data
        .iter()
        .fold(0u64, |a, b| a.rotate_left(8) ^ u64::from(*b));
    let _ = (
        dockhand::fuzz_api::human_bytes(n),
        dockhand::fuzz_api::human_age(n),
    );
    let _ = dockhand::fuzz_api::human_duration(Duration::from_nanos(n));
});
