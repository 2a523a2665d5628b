#![no_main]
//! The config file (TOML): thresholds, [gc], timeouts.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static CATALOG: OnceLock<dockhand::fuzz_api::Catalog> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let catalog = CATALOG.get_or_init(|| dockhand::fuzz_api::Catalog::builtin().expect("catalog"));
    let text = String::from_utf8_lossy(data);
    let _ = dockhand::fuzz_api::parse_config(
        std::path::Path::new("/etc/dockhand/config.toml"),
        &text,
        catalog,
    );
});
