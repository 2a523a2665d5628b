//! Embeds the check catalog: every `checks/*.toml` becomes part of the binary, so adding a check
//! is adding a file (and its probe), with no list to keep in step by hand. Also records the git
//! revision the binary was built from, for `--version` and `dockhand_build_info`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("checks");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut src = String::from("&[\n");
    for n in &names {
        let path = dir.join(n);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            src,
            "    ({n:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    src.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("catalog_files.rs");
    if let Err(e) = std::fs::write(&out, src) {
        panic!("cannot write {}: {e}", out.display());
    }
    revision();
}

/// `DOCKHAND_GIT_REVISION`: as given in the environment (a packager building from a tarball),
/// else `git describe` of the checkout (`4f877c5`, `4f877c5-dirty`), else "unknown".
fn revision() {
    println!("cargo:rerun-if-env-changed=DOCKHAND_GIT_REVISION");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in [".git/HEAD", ".git/index"] {
        if root.join(f).exists() {
            println!("cargo:rerun-if-changed={}", root.join(f).display());
        }
    }
    let rev = std::env::var("DOCKHAND_GIT_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| {
            let out = std::process::Command::new("git")
                .args([
                    "describe",
                    "--always",
                    "--dirty",
                    "--abbrev=12",
                    "--exclude",
                    "*",
                ])
                .current_dir(root)
                .output()
                .ok()?;
            let r = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (out.status.success() && !r.is_empty()).then_some(r)
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DOCKHAND_GIT_REVISION={rev}");
}
