#![no_main]
//! The engine's JSON answers: container, image, volume and network lists, a container's own
//! record, /system/df and /info, the credential store and helper answers.
use dockhand::fuzz_api::{Container, ContainerRecord, Image, Network, Volume};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(cs) = serde_json::from_slice::<Vec<Container>>(data) {
        cs.iter().for_each(|c| {
            let _ = c.name();
        });
    }
    if let Ok(is) = serde_json::from_slice::<Vec<Image>>(data) {
        is.iter().for_each(|i| {
            let _ = i.is_dangling();
        });
    }
    let _ = serde_json::from_slice::<Vec<Volume>>(data);
    if let Ok(ns) = serde_json::from_slice::<Vec<Network>>(data) {
        ns.iter().for_each(|n| {
            let _ = n.is_predefined();
        });
    }
    if let Ok(r) = serde_json::from_slice::<ContainerRecord>(data) {
        let _ = (
            r.name(),
            r.state_word(),
            r.command(),
            r.health_interval(),
            r.subnets(),
        );
        let _ = r.ips().count();
    }
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        let _ = dockhand::fuzz_api::auth_lookup(&v, "docker.io");
        let _ = dockhand::fuzz_api::auth_lookup(&v, "registry.example.com:5000");
    }
    let t = String::from_utf8_lossy(data);
    let _ = dockhand::fuzz_api::parse_api(&t);
    let _ = dockhand::fuzz_api::parse_auth_helper(&t);
});
