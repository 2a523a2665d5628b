//! The plan from verdicts, saved plans and their re-judging.

use super::*;
use crate::actions::Action;
use crate::policy::containers::Grace;
use crate::policy::gc::{ContainerIn, ImageIn, Input, Types, judge};

fn gathered() -> Gathered {
    let now = 1_800_000_000.0;
    let img = |id: &str, tags: &[&str]| ImageIn {
        id: id.into(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        first_seen: now - 86_400.0,
        unique_bytes: 7,
        ..ImageIn::default()
    };
    Gathered {
        daemon_id: "D1".into(),
        input: Input {
            containers: vec![ContainerIn {
                id: "c1".into(),
                name: "old".into(),
                image: "sha256:x".into(),
                grace: Some(Grace::Past { age_s: 7200.0 }),
                bytes: Some(3),
                ..ContainerIn::default()
            }],
            images: vec![
                img("sha256:multi", &["b:2", "a:1", "c:3"]),
                img("sha256:dang", &[]),
                img("sha256:kept", &["keep:1"]),
            ],
            ..Input::default()
        },
        containers: vec![super::super::gather::ContainerMeta {
            state: "exited".into(),
            finished_at: "2026-01-01T00:00:00.000000000Z".into(),
            image_name: "x".into(),
        }],
        now,
        ..Gathered::default()
    }
}

fn policy() -> Policy {
    Policy {
        types: Types {
            images: true,
            ..Types::default_set()
        },
        keep_patterns: vec!["keep:*".into()],
        ..Policy::default()
    }
}

#[test]
fn images_untag_tag_by_tag_then_go_by_id_with_the_bytes() {
    let g = gathered();
    let p = policy();
    let v = judge(&g.input, &p, g.now);
    let plan = build(&g, &v, &p, None);
    let kinds: Vec<String> = plan
        .plan
        .steps
        .iter()
        .map(|s| format!("{} {}", s.action.kind(), s.action.target()))
        .collect();
    assert_eq!(
        kinds,
        [
            "container.remove old (c1)",
            "image.untag a:1 (multi)",
            "image.untag b:2 (multi)",
            "image.untag c:3 (multi)",
            "image.remove dang",
            "image.remove multi"
        ]
    );
    assert_eq!(plan.plan.steps[5].bytes, Some(7));
    assert_eq!(plan.plan.steps[3].bytes, Some(0));
    let multi = plan
        .remove
        .iter()
        .find(|e| e.id == "sha256:multi")
        .expect("entry");
    assert_eq!(multi.steps, [1, 2, 3, 5]);
    let dang = plan
        .remove
        .iter()
        .find(|e| e.id == "sha256:dang")
        .expect("entry");
    assert_eq!(dang.steps, [4]);
    assert_eq!(plan.kept.len(), 1);
    assert!(
        plan.kept[0].reason.contains("keep pattern keep:*"),
        "{}",
        plan.kept[0].reason
    );
    assert_eq!(plan.bytes(), 3 + 7 + 7);
}

#[test]
fn a_saved_gc_plan_keeps_its_policy() {
    let g = gathered();
    let p = policy();
    let v = judge(&g.input, &p, g.now);
    let built = build(&g, &v, &p, None);
    let f = file_for(&g, &built.plan, &p, Some(5), "unix:///x.sock");
    assert_eq!(f.command, "gc");
    assert_eq!(f.engine.id.as_deref(), Some("D1"));
    let doc = policy_of(&f).expect("policy");
    assert_eq!(doc.policy().expect("policy"), p);
    assert_eq!(doc.keep_storage, Some(5));
    for s in &f.steps {
        assert_eq!(
            crate::actions::saved_plan::allowed("gc", &s.action, false),
            Ok(()),
            "{s:?}"
        );
    }
}

#[test]
fn spans_read_as_written() {
    let cases = [
        (3600.0, "1 h"),
        (5400.0, "90 min"),
        (604_800.0, "1 w"),
        (172_800.0, "2 d"),
        (30.0, "30 s"),
        (0.0, "0 s"),
        (3601.0, "1 h 0 min"),
    ];
    for (s, want) in cases {
        assert_eq!(span_text(s), want, "{s}");
    }
}

#[test]
fn only_steps_still_eligible_are_applied() {
    let g = gathered();
    let p = policy();
    let v = judge(&g.input, &p, g.now);
    let saved = build(&g, &v, &p, None).plan;
    // Now the container runs again, and a new dangling image appeared.
    let mut g2 = gathered();
    g2.input.containers[0].grace = None;
    g2.input.images.push(ImageIn {
        id: "sha256:new".into(),
        first_seen: g2.now - 86_400.0,
        ..ImageIn::default()
    });
    let v2 = judge(&g2.input, &p, g2.now);
    let now = build(&g2, &v2, &p, None);
    let (go, dropped) = still_eligible(&saved, &now);
    assert_eq!(go.len(), saved.len() - 1);
    assert!(
        go.steps
            .iter()
            .all(|s| !matches!(s.action, Action::RemoveContainer { .. }))
    );
    assert!(
        !go.steps.iter().any(|s| s.action.target().contains("new")),
        "not in the saved plan"
    );
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0].1.starts_with("no longer eligible"),
        "{}",
        dropped[0].1
    );
}
