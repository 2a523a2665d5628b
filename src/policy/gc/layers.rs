//! The bytes each image removal frees, df's accounting: a layer is freed by the removal that
//! leaves no image holding it, and counted once.

use std::collections::{HashMap, HashSet};

use super::ImageIn;

/// Bytes each removal frees when images are removed in `order`: a layer is freed by the removal
/// that leaves no image holding it (df's accounting: counted once, by the last image to go).
/// Images without a chain count their unique bytes.
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
        let mut freed = 0;
        for l in distinct {
            if let Some(n) = self.refs.get_mut(l) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    freed += self.sizes.get(l).copied().unwrap_or(0);
                }
            }
        }
        freed
    }

    /// What removing `image` would free now, without removing it.
    pub fn would_free(&self, image: &ImageIn) -> u64 {
        let Some(chain) = &image.chain else {
            return image.unique_bytes;
        };
        let distinct: HashSet<&str> = chain.iter().map(String::as_str).collect();
        distinct
            .into_iter()
            .filter(|l| self.refs.get(l) == Some(&1))
            .map(|l| self.sizes.get(l).copied().unwrap_or(0))
            .sum()
    }
}
