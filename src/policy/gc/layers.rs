//! The bytes each image removal frees, df's accounting: a layer is freed by the removal that
//! leaves no image holding it, and counted once.

use std::collections::{HashMap, HashSet};

use super::ImageIn;

/// Bytes each removal frees when images are removed in `order`: a layer is freed by the removal
/// that leaves no image holding it (df's accounting: counted once, by the last image to go).
/// Images without a chain, or whose layers have no recorded size, count their unique bytes.
pub struct LayerRefs<'a> {
    refs: HashMap<&'a str, usize>,
    sizes: &'a HashMap<String, u64>,
}

impl<'a> LayerRefs<'a> {
    pub fn new(images: &'a [ImageIn], sizes: &'a HashMap<String, u64>) -> LayerRefs<'a> {
        let mut refs: HashMap<&str, usize> = HashMap::new();
        for i in images {
            let distinct: HashSet<&str> = i.chain.iter().flatten().map(String::as_str).collect();
            for l in distinct {
                *refs.entry(l).or_default() += 1;
            }
        }
        LayerRefs { refs, sizes }
    }

    /// What removing `image` frees now, given what was removed before; updates the counts.
    pub fn remove(&mut self, image: &'a ImageIn) -> u64 {
        let Some(chain) = &image.chain else {
            return image.unique_bytes;
        };
        let distinct: HashSet<&str> = chain.iter().map(String::as_str).collect();
        // Chains from the engine (the containerd image store) come without layer sizes: the
        // refs still count, and the bytes are the engine's unique bytes for this image.
        let sized = distinct.iter().any(|l| self.sizes.contains_key(*l));
        let mut freed = 0;
        for l in distinct {
            if let Some(n) = self.refs.get_mut(l) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    freed += self.sizes.get(l).copied().unwrap_or(0);
                }
            }
        }
        if sized { freed } else { image.unique_bytes }
    }
}
