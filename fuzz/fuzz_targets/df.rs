#![no_main]
//! The storage map's totals over the engine's figures (any i64, or u64 from the disk): images,
//! containers and volumes. Input: eight bytes per size.
use dockhand::fuzz_api::{ContainerRow, ImageIn, VolumeRow, containers_part, images, volumes_part};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;

fuzz_target!(|data: &[u8]| {
    let sizes: Vec<u64> = data
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let size = |i: usize| sizes.get(i % sizes.len().max(1)).copied().unwrap_or(0);
    let chains = data.first().is_some_and(|b| b % 2 == 0);
    let ims: Vec<ImageIn> = (0..sizes.len())
        .map(|i| ImageIn {
            id: format!("sha256:{}", i % 3),
            tags: vec![],
            created: 0,
            engine_size: size(i),
            engine_shared: (i % 2 == 0).then(|| size(i + 1)),
            chain: chains.then(|| (0..=i % 4).map(|l| format!("l{l}")).collect()),
        })
        .collect();
    let layers: HashMap<String, u64> = (0..4).map(|l| (format!("l{l}"), size(l))).collect();
    let users: HashMap<String, usize> = [("sha256:0".to_string(), 1)].into();
    let _ = images(&ims, &layers, &users, sizes.first().copied());
    let rows = (0..sizes.len())
        .map(|i| ContainerRow {
            id: i.to_string(),
            name: String::new(),
            image: String::new(),
            state: if i % 2 == 0 { "running" } else { "exited" }.into(),
            created: 0,
            rw_bytes: Some(size(i)),
            rw_complete: true,
            log: None,
        })
        .collect();
    let _ = containers_part(rows);
    let vols = (0..sizes.len())
        .map(|i| VolumeRow {
            name: i.to_string(),
            driver: "local".into(),
            anonymous: true,
            containers: i % 2,
            size: Some(size(i)),
            complete: true,
        })
        .collect();
    let _ = volumes_part(vols);
});
