//! A volume whose filesystem stopped answering (a FUSE mount whose bindfs is SIGSTOPped, as an
//! NFS or FUSE server that went away): `df` and `doctor` both finish within `--timeout` + 1 s,
//! name the path and the volume, and every other figure and check still gives its answer.

use std::time::Duration;

use serde_json::Value;

use crate::support::daemon::WELL_CONFIGURED;
use crate::support::fuse::BindFs;
use crate::support::{TempDir, TestDaemon, dockhand, host_clean};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A daemon with two volumes: `fine` (a file in it, used by a stopped container) and `slow`,
/// whose `_data` is a bindfs mount. The mount is returned frozen.
fn daemon_with_a_hung_volume() -> (TestDaemon, TempDir, BindFs) {
    let d = TestDaemon::builder().daemon_json(WELL_CONFIGURED).start();
    d.docker_ok(["volume", "create", "fine"]);
    d.docker_ok(["volume", "create", "slow"]);
    std::fs::write(
        d.data_root().join("volumes/fine/_data/f"),
        vec![7u8; 10_000],
    )
    .unwrap();
    d.docker_ok([
        "create",
        "--name",
        "user",
        "-v",
        "fine:/data",
        "busybox",
        "true",
    ]);
    let src = TempDir::new();
    std::fs::write(src.join("g"), vec![1u8; 5_000]).unwrap();
    let mount = BindFs::start(src.path(), &d.data_root().join("volumes/slow/_data"));
    // It answers before the freeze.
    assert!(std::fs::metadata(mount.mountpoint().join("g")).is_ok());
    mount.freeze();
    (d, src, mount)
}

fn secs(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[test]
fn df_with_a_hung_volume_finishes_names_it_and_measures_the_rest() {
    // The guard drops first (declared last): thawed and detached before the daemon stops.
    let (d, _src, mount) = daemon_with_a_hung_volume();
    let hung = mount.mountpoint().display().to_string();

    let r = dockhand([
        "--host",
        &d.host(),
        "--timeout",
        &secs(TIMEOUT),
        "df",
        "--format",
        "json",
    ]);
    assert!(!r.timed_out, "{r}");
    r.assert_code(0);
    assert!(
        r.elapsed < TIMEOUT + Duration::from_secs(1),
        "df took {:?} with --timeout {:?}\n{r}",
        r.elapsed,
        TIMEOUT
    );
    let doc = r.json();
    let stuck = doc["stuck"].as_array().expect("stuck[]");
    assert_eq!(stuck.len(), 1, "{doc:#}");
    assert_eq!(stuck[0]["path"], hung.as_str());
    assert_eq!(stuck[0]["belongs_to"], "volume slow");
    assert_eq!(doc["lower_bound"], true);
    let notes = doc["notes"].to_string();
    assert!(
        notes.contains(&hung) && notes.contains("volume slow"),
        "{notes}"
    );
    // Everything else is measured: the other volume, the images, the container.
    let vol = |name: &str| -> Value {
        doc["volumes"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("volume {name} in {doc:#}"))
    };
    assert_eq!(vol("fine")["size"], 10_000, "{doc:#}");
    assert_eq!(vol("fine")["complete"], true);
    assert_eq!(vol("slow")["complete"], false);
    assert!(doc["images"]["count"].as_u64().unwrap() >= 1, "{doc:#}");
    assert_eq!(doc["containers"]["count"], 1);

    // The table says so too, in one line naming the path and the volume.
    let r = dockhand(["--host", &d.host(), "--timeout", &secs(TIMEOUT), "df"]);
    r.assert_code(0);
    assert!(r.elapsed < TIMEOUT + Duration::from_secs(1), "{r}");
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains(&hung) && l.contains("volume slow")),
        "{r}"
    );
    drop(mount);
}

#[test]
fn doctor_with_a_hung_volume_finishes_names_it_and_judges_everything_else() {
    // Host-wide checks (ports, processes) must not see another test's breakage.
    let _clean = host_clean();
    let (d, _src, mount) = daemon_with_a_hung_volume();
    let hung = mount.mountpoint().display().to_string();

    let r = dockhand([
        "--host",
        &d.host(),
        "--timeout",
        &secs(TIMEOUT),
        "doctor",
        "--format",
        "json",
    ]);
    assert!(!r.timed_out, "{r}");
    assert!(
        r.elapsed < TIMEOUT + Duration::from_secs(1),
        "doctor took {:?} with --timeout {:?}\n{r}",
        r.elapsed,
        TIMEOUT
    );
    r.assert_code(2);
    let doc = r.json();
    let checks = doc["checks"].as_array().unwrap();
    let mounts = checks
        .iter()
        .find(|c| c["id"] == "storage.mounts")
        .expect("storage.mounts");
    assert_eq!(mounts["status"], "critical", "{mounts:#}");
    let silent = &mounts["evidence"]["not_answering"];
    assert_eq!(silent[0]["path"], hung.as_str(), "{mounts:#}");
    assert_eq!(silent[0]["belongs_to"], "volume slow");
    assert!(mounts["summary"].as_str().unwrap().contains("volume slow"));
    // Every other check still gives its verdict: nothing unknown, nothing else critical.
    for c in checks.iter().filter(|c| c["id"] != "storage.mounts") {
        assert!(
            c["status"] == "ok" || c["status"] == "warning",
            "{} is {}: {}",
            c["id"],
            c["status"],
            c["summary"]
        );
    }
    drop(mount);
}
