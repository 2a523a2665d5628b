//! The accounting: plain data in, the storage map out. Pure, so shares and reclaimable bytes
//! are unit-tested without a daemon; `df`, doctor's storage checks and gc's estimates all use it.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

/// An image as gathered: its layer chain when the layer store could be read, else the engine's
/// own figures.
#[derive(Debug, Clone, Default)]
pub struct ImageIn {
    pub id: String,
    pub tags: Vec<String>,
    pub created: i64,
    /// The engine's `Size` (the whole chain).
    pub engine_size: u64,
    /// The engine's `SharedSize`, when it computed one (`/system/df`).
    pub engine_shared: Option<u64>,
    /// Chain ids, base first, from the layer store.
    pub chain: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageRow {
    pub id: String,
    pub tags: Vec<String>,
    pub created: i64,
    pub size: u64,
    /// Bytes in layers that other images use too.
    pub shared: u64,
    /// Bytes in layers only this image uses: what removing it alone frees.
    pub unique: u64,
    /// Containers (in any state) created from it.
    pub containers: usize,
    pub dangling: bool,
    pub layers: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImagesPart {
    pub count: usize,
    /// Images at least one container uses.
    pub active: usize,
    pub dangling: usize,
    /// Bytes of every distinct layer (each counted once).
    pub total: u64,
    /// Bytes of layers used by more than one image.
    pub shared: u64,
    pub unique: u64,
    /// Bytes freed if every image no container uses were removed: layers no used image needs.
    pub reclaimable: u64,
    /// "layerdb" (layer chains read from disk) or "engine" (the engine's own figures).
    pub source: &'static str,
    pub items: Vec<ImageRow>,
}

/// Accounts images by layer: a layer counts once however many images share it.
/// `used_images` are the image ids some container (any state) was created from.
/// Without chains, `engine_layers_size` (the engine's `LayersSize`) gives the distinct total.
///
/// Every sum saturates: the sizes are the engine's (or its files'), and a lying engine's
/// `i64::MAX` twice must give a full figure, not a wrapped one.
pub fn images(
    images: &[ImageIn],
    layer_sizes: &HashMap<String, u64>,
    container_images: &HashMap<String, usize>,
    engine_layers_size: Option<u64>,
) -> ImagesPart {
    let all_chains = images.iter().all(|i| i.chain.is_some());
    let mut part = ImagesPart {
        source: if all_chains { "layerdb" } else { "engine" },
        ..ImagesPart::default()
    };
    let users = |id: &str| container_images.get(id).copied().unwrap_or(0);
    if all_chains {
        let mut refs: HashMap<&str, usize> = HashMap::new();
        let mut needed: HashSet<&str> = HashSet::new();
        for i in images {
            // A chain lists each layer once; count images, not occurrences.
            let distinct: HashSet<&str> = i.chain.iter().flatten().map(String::as_str).collect();
            for l in &distinct {
                *refs.entry(l).or_default() += 1;
                if users(&i.id) > 0 {
                    needed.insert(l);
                }
            }
        }
        let size_of = |l: &str| layer_sizes.get(l).copied().unwrap_or(0);
        part.total = refs.keys().map(|l| size_of(l)).fold(0, u64::saturating_add);
        part.shared = refs
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(l, _)| size_of(l))
            .fold(0, u64::saturating_add);
        part.reclaimable = refs
            .keys()
            .filter(|l| !needed.contains(*l))
            .map(|l| size_of(l))
            .fold(0, u64::saturating_add);
        for i in images {
            let chain = i.chain.as_deref().unwrap_or_default();
            let size: u64 = chain
                .iter()
                .map(|l| size_of(l))
                .fold(0, u64::saturating_add);
            let shared: u64 = chain
                .iter()
                .filter(|l| refs.get(l.as_str()).is_some_and(|n| *n > 1))
                .map(|l| size_of(l))
                .fold(0, u64::saturating_add);
            part.items
                .push(row(i, size, shared, users(&i.id), chain.len()));
        }
    } else {
        // The engine's figures: Size per image, SharedSize from /system/df, LayersSize for the
        // distinct total. Which layers a used image holds is not known here, so reclaimable is
        // counted as the engine's own client counts it (`docker system df`): the total less each
        // used image's unique bytes (`Size - SharedSize`; an image whose figures were not
        // computed is skipped). The layers a used image shares with unused ones are counted as
        // reclaimable, so this is an upper bound — but the one figure the engine agrees with.
        for i in images {
            let shared = i.engine_shared.unwrap_or(0).min(i.engine_size);
            part.items
                .push(row(i, i.engine_size, shared, users(&i.id), 0));
        }
        let sum_unique: u64 = part
            .items
            .iter()
            .map(|r| r.unique)
            .fold(0, u64::saturating_add);
        let max_shared = part.items.iter().map(|r| r.shared).max().unwrap_or(0);
        // The engine's total as it is: under the containerd image store each image's Size
        // counts its content blobs and its unpacked snapshots, so the unique bytes can add up
        // past the total `docker system df` shows; the total is the engine's all the same.
        part.total = engine_layers_size.unwrap_or(sum_unique.saturating_add(max_shared));
        part.shared = part.total.saturating_sub(sum_unique);
        let used_unique = images
            .iter()
            .zip(&part.items)
            .filter(|(i, r)| r.containers > 0 && i.engine_shared.is_some())
            .map(|(_, r)| r.unique)
            .fold(0, u64::saturating_add);
        part.reclaimable = part.total.saturating_sub(used_unique);
    }
    part.unique = part.total - part.shared.min(part.total);
    part.count = images.len();
    part.active = part.items.iter().filter(|r| r.containers > 0).count();
    part.dangling = part.items.iter().filter(|r| r.dangling).count();
    part.items
        .sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
    part
}

fn row(i: &ImageIn, size: u64, shared: u64, containers: usize, layers: usize) -> ImageRow {
    ImageRow {
        id: i.id.clone(),
        tags: i.tags.clone(),
        created: i.created,
        size,
        shared,
        unique: size - shared.min(size),
        containers,
        dangling: i.tags.iter().all(|t| t == "<none>:<none>"),
        layers,
    }
}

/// Percent of `part` in `whole`, 0 when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 1000.0 / whole as f64).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(id: &str, tags: &[&str], chain: &[&str]) -> ImageIn {
        ImageIn {
            id: id.into(),
            tags: tags.iter().map(|s| s.to_string()).collect(),
            chain: Some(chain.iter().map(|s| s.to_string()).collect()),
            ..ImageIn::default()
        }
    }

    /// The seed's example: nginx is 52 MB, but only 3 MB is new when its debian base is there.
    #[test]
    fn shared_base_counts_once() {
        let sizes: HashMap<String, u64> = [("debian", 49), ("nginx", 3), ("app", 5)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v * 1_000_000))
            .collect();
        let images = vec![
            img("sha256:deb", &["debian:jessie"], &["debian"]),
            img("sha256:ngx", &["nginx:1.9.4"], &["debian", "nginx"]),
            img(
                "sha256:app",
                &["<none>:<none>"],
                &["debian", "nginx", "app"],
            ),
        ];
        let used: HashMap<String, usize> = [("sha256:ngx".to_string(), 2)].into_iter().collect();
        let p = images_part(&images, &sizes, &used);
        assert_eq!(p.source, "layerdb");
        assert_eq!(p.total, 57_000_000, "each layer once");
        assert_eq!(
            p.shared, 52_000_000,
            "debian and nginx layers are in several images"
        );
        assert_eq!(p.unique, 5_000_000);
        // nginx is used: its layers (debian + nginx) stay; only app's own layer can go.
        assert_eq!(p.reclaimable, 5_000_000);
        let ngx = p.items.iter().find(|r| r.id == "sha256:ngx").expect("row");
        assert_eq!(
            (ngx.size, ngx.shared, ngx.unique, ngx.containers),
            (52_000_000, 52_000_000, 0, 2)
        );
        let app = p.items.iter().find(|r| r.id == "sha256:app").expect("row");
        assert_eq!((app.size, app.unique), (57_000_000, 5_000_000));
        assert!(app.dangling);
        assert_eq!((p.count, p.active, p.dangling), (3, 1, 1));
        assert_eq!(p.items[0].id, "sha256:app", "biggest first");
    }

    #[test]
    fn nothing_used_means_everything_reclaimable() {
        let sizes: HashMap<String, u64> = [("a".to_string(), 10), ("b".to_string(), 7)]
            .into_iter()
            .collect();
        let p = images_part(
            &[img("x", &["x:1"], &["a"]), img("y", &["y:1"], &["a", "b"])],
            &sizes,
            &HashMap::new(),
        );
        assert_eq!((p.total, p.shared, p.reclaimable), (17, 10, 17));
    }

    #[test]
    fn engine_figures_when_chains_are_unknown() {
        let images = vec![
            ImageIn {
                id: "a".into(),
                tags: vec!["a:1".into()],
                engine_size: 100,
                engine_shared: Some(60),
                ..ImageIn::default()
            },
            ImageIn {
                id: "b".into(),
                tags: vec!["b:1".into()],
                engine_size: 80,
                engine_shared: Some(60),
                ..ImageIn::default()
            },
        ];
        let used: HashMap<String, usize> = [("a".to_string(), 1)].into_iter().collect();
        let p = super::images(&images, &HashMap::new(), &used, Some(120));
        assert_eq!(p.source, "engine");
        assert_eq!((p.total, p.shared, p.unique), (120, 60, 60));
        // As `docker system df` counts it: the total less the used image's own 40 bytes (the
        // 60 it shares with b are counted as reclaimable, as the engine's client counts them).
        assert_eq!(p.reclaimable, 80);
        assert_eq!(p.items[0].unique, 40);
    }

    /// The docker CLI skips a used image whose Size or SharedSize the engine did not compute
    /// (-1): its bytes are not subtracted from the reclaimable total.
    #[test]
    fn engine_reclaimable_skips_used_images_without_a_shared_figure() {
        let im = |id: &str, size, shared| ImageIn {
            id: id.into(),
            tags: vec![format!("{id}:1")],
            engine_size: size,
            engine_shared: shared,
            ..ImageIn::default()
        };
        let used: HashMap<String, usize> = [("a".to_string(), 1), ("b".to_string(), 3)].into();
        let p = super::images(
            &[
                im("a", 50, Some(10)),
                im("b", 30, None),
                im("c", 20, Some(10)),
            ],
            &HashMap::new(),
            &used,
            Some(100),
        );
        assert_eq!((p.total, p.reclaimable, p.active), (100, 60, 2));
    }

    fn images_part(
        i: &[ImageIn],
        s: &HashMap<String, u64>,
        u: &HashMap<String, usize>,
    ) -> ImagesPart {
        images(i, s, u, None)
    }

    #[test]
    fn percents() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(5, 0), 0.0);
    }

    /// Found by fuzzing (fuzz_props::fuzz_df): images whose engine sizes add past u64 (and
    /// layers whose sizes do) overflowed the sums. They saturate.
    #[test]
    fn sizes_past_u64_saturate() {
        let im = |id: &str, size: u64, chain: Option<Vec<String>>| ImageIn {
            id: id.into(),
            tags: vec![],
            created: 0,
            engine_size: size,
            engine_shared: None,
            chain,
        };
        let (no_layers, no_users) = (HashMap::new(), HashMap::new());
        let p = images(
            &[im("a", u64::MAX, None), im("b", u64::MAX, None)],
            &no_layers,
            &no_users,
            None,
        );
        assert_eq!((p.total, p.reclaimable), (u64::MAX, u64::MAX));
        let layers: HashMap<String, u64> =
            [("l0".to_string(), u64::MAX), ("l1".to_string(), 1)].into();
        let chain = Some(vec!["l0".to_string(), "l1".to_string()]);
        let p = images(&[im("a", 0, chain)], &layers, &no_users, None);
        assert_eq!((p.total, p.items[0].size), (u64::MAX, u64::MAX));
    }
}
