//! The adversary suite: every attack in docs/security.md carried out for real. The attacker is an
//! unprivileged user (`nobody`, through [`crate::support::attacker`]) or a process dockhand must
//! not trust; dockhand runs as root. Each test asserts that nothing happened — the target file's
//! bytes and mode unchanged, the victim process alive with the same start time, the container
//! still running, nothing executed — and, where it applies, that the ordinary case still works.
//!
//! One file per kind of attack, so the threat model's table points at one place for each.

mod credentials;
mod files;
mod identity;
mod plans;
mod unknown;
