//! Verdicts of the volumes area. Named volumes are data: never called reclaimable by default.

use crate::runtime::inventory::Volume;

/// A volume named by the engine (64 hex digits, or labelled anonymous) rather than by a person
/// (the engine's own record says so: [`Volume::is_anonymous`]).
pub fn is_anonymous(v: &Volume) -> bool {
    v.is_anonymous()
}

/// An anonymous volume that no container, in any state, mounts.
pub fn dangling(anonymous: bool, containers: usize) -> bool {
    anonymous && containers == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_volumes_by_name_or_label() {
        let v = |name: &str, label: bool| Volume {
            name: name.into(),
            labels: label.then(|| {
                [("com.docker.volume.anonymous".to_string(), String::new())]
                    .into_iter()
                    .collect()
            }),
            ..Volume::default()
        };
        let cases = [
            (v(&"a".repeat(64), false), true),
            (v(&"g".repeat(64), false), false),
            (v("pgdata", false), false),
            (v("pgdata", true), true),
        ];
        for (vol, want) in cases {
            assert_eq!(is_anonymous(&vol), want, "{}", vol.name);
        }
    }

    #[test]
    fn dangling_is_anonymous_and_unused() {
        let cases = [(true, 0, true), (true, 2, false), (false, 0, false)];
        for (anon, n, want) in cases {
            assert_eq!(dangling(anon, n), want);
        }
    }
}
