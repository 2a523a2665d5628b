//! Watermarks: when the data root's filesystem is fuller than the high mark, unused images go
//! least recently used first until what the plan frees brings it down to the low mark.

use super::layers::LayerRefs;
use super::rules::name_of;
use super::{Disk, Input, Verdict, Verdicts, WatermarkOutcome, Watermarks, Why};

/// Bytes to free to bring `disk` to the low mark, when it is above the high mark; 0 otherwise.
pub fn watermark_need(disk: Disk, marks: Watermarks) -> u64 {
    if disk.capacity == 0 {
        return 0;
    }
    let used_pct = disk.used as f64 * 100.0 / disk.capacity as f64;
    if used_pct <= marks.high {
        return 0;
    }
    let target = (disk.capacity as f64 * marks.low / 100.0).floor() as u64;
    disk.used.saturating_sub(target)
}

/// The watermark pass over the images eligible but not asked for, in `img_order` (least
/// recently used first), counting what the other rules free already; records where it ended.
pub(super) fn take<'a>(
    v: &mut Verdicts,
    input: &'a Input,
    img_order: &[usize],
    base_of: &[Vec<usize>],
    layers: &mut LayerRefs<'a>,
    marks: Watermarks,
    disk: Disk,
) {
    let need = watermark_need(disk, marks);
    let mut planned = v.bytes();
    for &i in img_order {
        let eligible = matches!(v.images[i].why, Why::NotRequested);
        if !eligible {
            continue;
        }
        if planned >= need {
            v.images[i].why = Why::UnderWatermark;
            continue;
        }
        // A base of an image that stays is kept (it may be taken later in the order, once
        // the image above it goes).
        let stays = |j: usize| !v.images[j].why.collects();
        if base_of[i].iter().any(|&j| stays(j)) {
            continue;
        }
        let freed = layers.remove(&input.images[i]);
        v.images[i] = Verdict {
            why: Why::Watermark,
            bytes: Some(freed),
        };
        planned += freed;
    }
    // A second pass for bases whose children went in the first.
    for &i in img_order {
        if !matches!(v.images[i].why, Why::NotRequested) {
            continue;
        }
        let stays = |j: usize| !v.images[j].why.collects();
        if planned >= need {
            v.images[i].why = Why::UnderWatermark;
        } else if let Some(&child) = base_of[i].iter().find(|&&j| stays(j)) {
            v.images[i].why = Why::BaseOfKept {
                child: name_of(&input.images[child]),
            };
        } else {
            let freed = layers.remove(&input.images[i]);
            v.images[i] = Verdict {
                why: Why::Watermark,
                bytes: Some(freed),
            };
            planned += freed;
        }
    }
    let used_percent = if disk.capacity == 0 {
        0.0
    } else {
        disk.used as f64 * 100.0 / disk.capacity as f64
    };
    v.watermark = Some(WatermarkOutcome {
        marks,
        used_percent,
        need,
        planned,
        met: planned >= need,
    });
}
