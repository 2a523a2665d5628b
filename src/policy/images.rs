//! Verdicts of the images area.

/// A dangling image (no tag) that no container, in any state, uses: the engine would remove it
/// without force, and nothing needs it. (A container keeps its image even when stopped.)
pub fn dangling_unused(dangling: bool, containers: usize) -> bool {
    dangling && containers == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unused_dangling_images() {
        let cases = [
            (true, 0, true),
            (true, 1, false),
            (false, 0, false),
            (false, 3, false),
        ];
        for (dangling, containers, want) in cases {
            assert_eq!(dangling_unused(dangling, containers), want);
        }
    }
}
