//! contrib/: the systemd units, the container image and the fleet manifests (Kubernetes with
//! node-problem-detector, Nomad, Docker Swarm). Each file is read the way its own tool reads it
//! (`systemd-analyze verify`, a YAML parser, an HCL parser, `docker build`, `docker stack
//! deploy`), every `dockhand …` command line in them is run for real against a socket where
//! no engine listens, and what this machine can run is run: the image built FROM scratch and
//! run on a throwaway daemon, and the Swarm global service on a single-node swarm of one.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support::daemon::{WELL_CONFIGURED, docker_cli};
use crate::support::schema;
use crate::support::{Run, TempDir, TestDaemon, dockhand_bin, dockhand_cmd, host_clean, run};

// ---------------------------------------------------------------------------------------------
// The files

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let p = repo().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

const DOCTOR_SERVICE: &str = "contrib/systemd/dockhand-doctor.service";
const DOCTOR_TIMER: &str = "contrib/systemd/dockhand-doctor.timer";
const GC_SERVICE: &str = "contrib/systemd/dockhand-gc.service";
const GC_TIMER: &str = "contrib/systemd/dockhand-gc.timer";
const WATCH_SERVICE: &str = "contrib/systemd/dockhand-watch.service";
const DOCKERFILE: &str = "contrib/docker/Dockerfile";
const K8S: &str = "contrib/deploy/kubernetes/dockhand-npd.yaml";
const NPD_JSON: &str = "contrib/deploy/kubernetes/dockhand-monitor.json";
const NPD_DOCKERFILE: &str = "contrib/deploy/kubernetes/Dockerfile.npd";
const NOMAD_DOCTOR: &str = "contrib/deploy/nomad/dockhand-doctor.nomad.hcl";
const NOMAD_GC: &str = "contrib/deploy/nomad/dockhand-gc.nomad.hcl";
const SWARM: &str = "contrib/deploy/swarm/dockhand-stack.yml";
const DEPLOY_MD: &str = "docs/deploy.md";
const DEB_CONFIG: &str = "contrib/debian/config.toml";
const DEB_COPYRIGHT: &str = "contrib/debian/copyright";
const DEB_LINTIAN_OVERRIDES: &str = "contrib/debian/lintian-overrides";
const DEB_POSTINST: &str = "contrib/debian/postinst";
const DEB_PRERM: &str = "contrib/debian/prerm";
const DEB_POSTRM: &str = "contrib/debian/postrm";

/// Every file under contrib/. A new one must be added here and to [`command_lines`], so no
/// file's command lines go unchecked.
const CONTRIB_FILES: &[&str] = &[
    DOCTOR_SERVICE,
    DOCTOR_TIMER,
    GC_SERVICE,
    GC_TIMER,
    WATCH_SERVICE,
    DOCKERFILE,
    K8S,
    NPD_JSON,
    NPD_DOCKERFILE,
    NOMAD_DOCTOR,
    NOMAD_GC,
    SWARM,
    // The Debian package's own files (scripts/package; tests/it/package.rs installs it). They
    // hold no dockhand command line.
    DEB_CONFIG,
    DEB_COPYRIGHT,
    DEB_LINTIAN_OVERRIDES,
    DEB_POSTINST,
    DEB_PRERM,
    DEB_POSTRM,
];

#[test]
fn every_contrib_file_is_known_to_these_tests() {
    fn walk(dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                let rel = p.strip_prefix(repo()).unwrap();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut found = BTreeSet::new();
    walk(&repo().join("contrib"), &mut found);
    let known: BTreeSet<String> = CONTRIB_FILES.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found, known,
        "contrib/ and CONTRIB_FILES in tests/it/contrib.rs differ: add the new file there and its command lines to command_lines()"
    );
}

// ---------------------------------------------------------------------------------------------
// Parsers, as the tools read the files

fn yaml_docs(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn json_file(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

fn hcl_file(rel: &str) -> Value {
    hcl::from_str::<Value>(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not HCL: {e}"))
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `${VAR:-default}` replaced by its default, as `docker stack deploy` does with VAR unset.
fn compose_defaults(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').expect("unclosed ${") + i;
        let inner = &rest[i + 2..end];
        let (_, default) = inner.split_once(":-").unwrap_or_else(|| {
            panic!("${{{inner}}} has no default; every variable in {SWARM} needs one")
        });
        out.push_str(default);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// An `[Unit]`-style file as (section, key, value) triples, in order.
fn unit_entries(rel: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in read(rel).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_owned();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{rel}: not key=value: {line}"));
        out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
    }
    out
}

fn unit_values(rel: &str, key: &str) -> Vec<String> {
    unit_entries(rel)
        .into_iter()
        .filter(|(_, k, _)| k == key)
        .map(|(_, _, v)| v)
        .collect()
}

fn unit_value(rel: &str, key: &str) -> Option<String> {
    unit_values(rel, key).pop()
}

// ---------------------------------------------------------------------------------------------
// Command lines

/// A `dockhand …` command line found in a file: `argv` is what dockhand receives.
#[derive(Debug, Clone)]
struct Line {
    file: &'static str,
    argv: Vec<String>,
}

fn is_dockhand(program: &str) -> bool {
    program == "dockhand" || program.ends_with("/dockhand")
}

/// The command lines of node-problem-detector rules.
fn npd_rules(file: &'static str, doc: &Value) -> Vec<Line> {
    doc["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: no rules"))
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(is_dockhand))
        .map(|r| Line {
            file,
            argv: r["args"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: a rule without args: {r}"))
                .iter()
                .map(|a| a.as_str().expect("string arg").to_owned())
                .collect(),
        })
        .collect()
}

/// The tasks of a Nomad job file (job → group → task), with their `config`.
fn nomad_tasks(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (job, j) in doc["job"].as_object().into_iter().flatten() {
        for (_, g) in j["group"].as_object().into_iter().flatten() {
            for (task, t) in g["task"].as_object().into_iter().flatten() {
                out.push((format!("{job}/{task}"), t));
            }
        }
    }
    out
}

/// Shell-ish words of a documented command: backslash continuations joined, stopping at a
/// redirection, pipe, `||`, `&&`, `;` or comment.
fn shell_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in line.split_whitespace() {
        if w.starts_with('>')
            || w.starts_with('#')
            || w.starts_with("2>")
            || ["|", "||", "&&", ";"].contains(&w)
        {
            break;
        }
        out.push(w.trim_matches('\'').to_owned());
    }
    out
}

/// The `dockhand …` command lines in docs/deploy.md's code blocks: a line that runs the binary
/// (`dockhand …`, `/usr/local/bin/dockhand …`, also after cron's fields) or the image
/// (`docker run … dockhand:TAG …`).
fn deploy_md_lines() -> Vec<Line> {
    let text = read(DEPLOY_MD);
    let mut out = Vec::new();
    let mut in_code = false;
    let mut joined = String::new();
    for raw in text.lines() {
        if raw.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        if let Some(part) = raw.strip_suffix('\\') {
            joined.push_str(part);
            joined.push(' ');
            continue;
        }
        joined.push_str(raw);
        let line = std::mem::take(&mut joined);
        let words = shell_words(&line);
        if let Some(i) = words.iter().position(|w| w.starts_with("dockhand:"))
            && words.first().is_some_and(|w| w == "docker")
            && words.get(1).is_some_and(|w| w == "run")
        {
            out.push(Line {
                file: DEPLOY_MD,
                argv: words[i + 1..].to_vec(),
            });
        } else if let Some(i) = words.iter().position(|w| is_dockhand(w)) {
            // Not `docker …`, `systemctl …` or the like naming a unit or a path.
            let before_ok = words[..i].iter().all(|w| {
                w.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c)) || w == "root"
            });
            if before_ok && words.len() > i + 1 {
                out.push(Line {
                    file: DEPLOY_MD,
                    argv: words[i + 1..].to_vec(),
                });
            }
        }
    }
    out
}

/// Every `dockhand …` command line in contrib/ and docs/deploy.md.
fn command_lines() -> Vec<Line> {
    let mut out = Vec::new();
    // systemd: ExecStart= and friends, without their prefixes (-, @, :, +, !).
    for unit in [DOCTOR_SERVICE, GC_SERVICE, WATCH_SERVICE] {
        for (_, k, v) in unit_entries(unit) {
            if k.starts_with("Exec") {
                let v = v.trim_start_matches(['-', '@', ':', '+', '!']);
                assert!(
                    !v.contains('"') && !v.contains('\''),
                    "{unit}: quoting in {k}= is not split here; keep {k}= unquoted"
                );
                let words: Vec<String> = v.split_whitespace().map(str::to_owned).collect();
                assert!(
                    is_dockhand(&words[0]),
                    "{unit}: {k}= runs {}, not dockhand",
                    words[0]
                );
                out.push(Line {
                    file: unit,
                    argv: words[1..].to_vec(),
                });
            }
        }
    }
    // The image: ENTRYPOINT is dockhand, CMD its default arguments.
    let dockerfile = read(DOCKERFILE);
    let json_instr = |name: &str| -> Vec<String> {
        let line = dockerfile
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{DOCKERFILE} has no {name}"));
        serde_json::from_str(line[name.len()..].trim()).unwrap_or_else(|e| {
            panic!("{DOCKERFILE}: {name} is not a JSON array ({e}); use the exec form")
        })
    };
    let entrypoint = json_instr("ENTRYPOINT");
    assert_eq!(
        entrypoint.len(),
        1,
        "{DOCKERFILE}: ENTRYPOINT is the binary alone"
    );
    assert!(is_dockhand(&entrypoint[0]));
    out.push(Line {
        file: DOCKERFILE,
        argv: json_instr("CMD"),
    });
    // node-problem-detector: the plugin config, and the same config inside the ConfigMap.
    out.extend(npd_rules(NPD_JSON, &json_file(NPD_JSON)));
    for doc in yaml_docs(K8S) {
        if doc["kind"].as_str() == Some("ConfigMap") {
            let (_, text) = doc["data"]
                .as_hash()
                .and_then(|h| h.iter().next())
                .expect("ConfigMap data");
            let cfg: Value = serde_json::from_str(text.as_str().expect("a string")).expect("JSON");
            out.extend(npd_rules(K8S, &cfg));
        }
        if doc["kind"].as_str() == Some("DaemonSet") {
            for c in doc["spec"]["template"]["spec"]["containers"]
                .as_vec()
                .expect("containers")
            {
                let cmd = strs(&c["command"]);
                if cmd.first().is_some_and(|p| is_dockhand(p)) {
                    let mut argv = cmd[1..].to_vec();
                    argv.extend(strs(&c["args"]));
                    out.push(Line { file: K8S, argv });
                }
            }
        }
    }
    // Nomad: the args of every task running the dockhand image.
    for file in [NOMAD_DOCTOR, NOMAD_GC] {
        let doc = hcl_file(file);
        for (_, task) in nomad_tasks(&doc) {
            let config = &task["config"];
            if config["image"]
                .as_str()
                .is_some_and(|i| i.contains("dockhand"))
            {
                out.push(Line {
                    file,
                    argv: config["args"]
                        .as_array()
                        .expect("args")
                        .iter()
                        .map(|a| a.as_str().expect("string").to_owned())
                        .collect(),
                });
            }
        }
    }
    // Swarm: each service running the dockhand image, variables at their defaults.
    let swarm = YamlLoader::load_from_str(&compose_defaults(&read(SWARM))).expect("YAML");
    for (_, svc) in swarm[0]["services"].as_hash().expect("services") {
        if svc["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("dockhand"))
        {
            out.push(Line {
                file: SWARM,
                argv: strs(&svc["command"]),
            });
        }
    }
    out.extend(deploy_md_lines());
    out
}

fn subcommands() -> BTreeSet<String> {
    dockhand::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect()
}

/// Runs one command line for real, with the engine pointed at a socket where nothing listens
/// (DOCKER_HOST; the lines name no --host), the state dir and any --textfile moved into
/// `scratch`. Returns why it failed, if it did. A usage error exits 64; everything else —
/// doctor's 0–3, 69 for an engine that is not there — means the line parsed and was accepted.
fn validate(line: &Line, scratch: &TempDir) -> Result<(), String> {
    let mut argv = line.argv.clone();
    if argv.iter().any(|a| a.contains("${")) {
        return Err("an unexpanded variable".into());
    }
    if argv
        .iter()
        .any(|a| a == "--host" || a == "-H" || a == "--context" || a.starts_with("--host="))
    {
        return Err("names an engine (--host/--context): contrib lines must use the default or DOCKER_HOST, which this check redirects".into());
    }
    let mut i = 0;
    while i < argv.len() {
        if argv[i] == "--textfile" && i + 1 < argv.len() {
            let name = Path::new(&argv[i + 1])
                .file_name()
                .expect("a file name")
                .to_owned();
            argv[i + 1] = scratch.join(name).display().to_string();
        }
        if argv[i] == "--state-dir" && i + 1 < argv.len() {
            argv[i + 1] = scratch.join("state").display().to_string();
        }
        i += 1;
    }
    if !argv.iter().any(|a| a == "--state-dir") {
        argv.push("--state-dir".into());
        argv.push(scratch.join("state").display().to_string());
    }
    // A service (watch) runs until stopped: its line is parsed, not run.
    if argv.iter().any(|a| a == "watch" || a == "serve") {
        use clap::Parser;
        let full = std::iter::once("dockhand".to_string()).chain(argv.iter().cloned());
        return dockhand::cli::Cli::try_parse_from(full)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    let r = dockhand_cmd()
        .args(&argv)
        .env(
            "DOCKER_HOST",
            format!("unix://{}", scratch.join("no-engine.sock").display()),
        )
        .run();
    match r.code {
        Some(64) | Some(70) | None => Err(format!("{r}")),
        Some(_) if r.timed_out => Err(format!("{r}")),
        Some(_) => Ok(()),
    }
}

#[test]
fn every_dockhand_command_line_in_contrib_and_the_deploy_guide_parses() {
    let lines = command_lines();
    // Each file that should hold command lines holds some: an extractor that silently finds
    // nothing would make this test pass on anything.
    for (file, at_least) in [
        (DOCTOR_SERVICE, 1),
        (GC_SERVICE, 1),
        (DOCKERFILE, 1),
        (NPD_JSON, 4),
        (K8S, 4),
        (NOMAD_DOCTOR, 1),
        (NOMAD_GC, 1),
        (SWARM, 1),
        (DEPLOY_MD, 4),
    ] {
        let n = lines.iter().filter(|l| l.file == file).count();
        assert!(
            n >= at_least,
            "{file}: {n} dockhand command lines found, expected at least {at_least}: {lines:#?}"
        );
    }
    for l in &lines {
        eprintln!("contrib: {}: dockhand {}", l.file, l.argv.join(" "));
    }
    let scratch = TempDir::new();
    let failures: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            validate(l, &scratch)
                .err()
                .map(|why| format!("{}: dockhand {}\n{why}", l.file, l.argv.join(" ")))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_bad_command_line_is_caught() {
    // The check above must be able to fail: a misspelt flag and an unknown check id are caught.
    let scratch = TempDir::new();
    for argv in [
        &["doctor", "--formt", "json"][..],
        &["doctor", "--check", "daemon.responsiv"][..],
        &["doctor", "--format", "json", "--textfile", "/x/y.prom"][..],
        &["df", "--walk-timeout", "soon"][..],
    ] {
        let line = Line {
            file: "test",
            argv: argv.iter().map(|s| s.to_string()).collect(),
        };
        assert!(validate(&line, &scratch).is_err(), "{argv:?} passed");
    }
}

// ---------------------------------------------------------------------------------------------
// The manifests' structure

#[test]
fn kubernetes_manifest_parses_and_gives_the_pod_what_doctor_needs() {
    let docs = yaml_docs(K8S);
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRoleBinding",
            "ConfigMap",
            "DaemonSet"
        ]
    );
    let cm = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ConfigMap"))
        .unwrap();
    let embedded: Value = serde_json::from_str(
        cm["data"]["dockhand-monitor.json"]
            .as_str()
            .expect("the plugin config"),
    )
    .unwrap();
    assert_eq!(
        embedded,
        json_file(NPD_JSON),
        "the ConfigMap in {K8S} and {NPD_JSON} differ: keep them the same"
    );
    let ds = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("DaemonSet"))
        .unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(
        spec["hostPID"].as_bool(),
        Some(true),
        "hostPID: /proc of dockerd and its shims"
    );
    assert_eq!(
        spec["hostNetwork"].as_bool(),
        Some(true),
        "hostNetwork: the host's socket tables"
    );
    let c = &spec["containers"][0];
    let caps = strs(&c["securityContext"]["capabilities"]["add"]);
    assert_eq!(caps, ["SYS_PTRACE", "DAC_READ_SEARCH"]);
    assert_eq!(c["securityContext"]["privileged"].as_bool(), Some(false));
    let cmd = strs(&c["command"]);
    assert!(
        cmd.iter()
            .any(|a| a == "--config.custom-plugin-monitor=/config/dockhand-monitor.json"),
        "NPD is pointed at the plugin config: {cmd:?}"
    );
    // Host paths are mounted at the same paths (the engine reports host paths), read-only.
    let volumes = spec["volumes"].as_vec().unwrap();
    for m in c["volumeMounts"].as_vec().unwrap() {
        let name = m["name"].as_str().unwrap();
        let v = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap();
        if let Some(host) = v["hostPath"]["path"].as_str() {
            assert_eq!(
                m["mountPath"].as_str(),
                Some(host),
                "{name} at its host path"
            );
            assert_eq!(m["readOnly"].as_bool(), Some(true), "{name} read-only");
        }
        if name == "docker-data-root" {
            assert_eq!(m["mountPropagation"].as_str(), Some("HostToContainer"));
        }
    }
    // The plugin rules name conditions that exist.
    let npd = json_file(NPD_JSON);
    let conditions: BTreeSet<&str> = npd["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    for r in npd["rules"].as_array().unwrap() {
        if r["type"] == "permanent" {
            let c = r["condition"].as_str().unwrap();
            assert!(conditions.contains(c), "rule for unknown condition {c}");
        }
        let args = r["args"].as_array().unwrap();
        assert!(
            args.windows(2).any(|w| w[0] == "--format" && w[1] == "npd"),
            "every rule speaks npd: {r}"
        );
    }
}

#[test]
fn nomad_jobs_parse_and_run_on_every_client_periodically() {
    for file in [NOMAD_DOCTOR, NOMAD_GC] {
        let doc = hcl_file(file);
        let jobs = doc["job"].as_object().expect("a job");
        assert_eq!(
            jobs.len(),
            1,
            "{file}: nomad job run takes one job per file"
        );
        for (name, job) in jobs {
            assert_eq!(
                job["type"], "sysbatch",
                "{file}: {name} runs on every client and ends"
            );
            assert_eq!(job["periodic"]["prohibit_overlap"], true, "{file}");
            assert!(
                job["periodic"]["crons"]
                    .as_array()
                    .is_some_and(|c| !c.is_empty())
            );
        }
        let tasks = nomad_tasks(&doc);
        assert!(!tasks.is_empty(), "{file}: no task");
        for (name, task) in tasks {
            let cfg = &task["config"];
            assert_eq!(cfg["pid_mode"], "host", "{file}: {name}");
            assert_eq!(cfg["network_mode"], "host", "{file}: {name}");
            assert_eq!(
                cfg["cap_add"],
                serde_json::json!(["sys_ptrace", "dac_read_search"])
            );
            let mounts = cfg["mount"].as_array().expect("mounts");
            for target in ["/var/run/docker.sock", "/var/lib/docker"] {
                let m = mounts
                    .iter()
                    .find(|m| m["target"] == target)
                    .unwrap_or_else(|| panic!("{file}: {name} mounts no {target}"));
                assert_eq!(m["source"], target, "{file}: {target} at its host path");
                assert_eq!(m["readonly"], true, "{file}: {target} read-only");
            }
        }
    }
}

#[test]
fn swarm_stack_parses_as_a_global_service() {
    let docs = YamlLoader::load_from_str(&compose_defaults(&read(SWARM))).expect("YAML");
    let svc = &docs[0]["services"]["doctor"];
    assert_eq!(svc["deploy"]["mode"].as_str(), Some("global"));
    assert_eq!(
        svc["deploy"]["restart_policy"]["condition"].as_str(),
        Some("any")
    );
    assert_eq!(
        svc["deploy"]["restart_policy"]["delay"].as_str(),
        Some("60s")
    );
    assert_eq!(
        docs[0]["networks"]["hostnet"]["name"].as_str(),
        Some("host")
    );
    let binds: Vec<(&str, &str)> = svc["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| (v["source"].as_str().unwrap(), v["target"].as_str().unwrap()))
        .collect();
    assert!(binds.contains(&("/var/run/docker.sock", "/var/run/docker.sock")));
    assert!(binds.contains(&("/var/lib/docker", "/var/lib/docker")));
}

// ---------------------------------------------------------------------------------------------
// systemd

fn systemd_analyze() -> &'static str {
    let p = "/usr/bin/systemd-analyze";
    assert!(
        Path::new(p).exists(),
        "{p} is missing: install systemd (scripts/setup-test-host does); it runs without systemd as pid 1"
    );
    p
}

/// Where the units (and the Debian package) put the binary.
const INSTALLED_BIN: &str = "/usr/bin/dockhand";

/// The units copied into `dir` with ExecStart's /usr/bin/dockhand replaced by the binary these
/// tests built: `systemd-analyze verify` checks that the executable exists.
fn units_with_real_binary(dir: &TempDir) -> Vec<PathBuf> {
    [
        DOCTOR_SERVICE,
        DOCTOR_TIMER,
        GC_SERVICE,
        GC_TIMER,
        WATCH_SERVICE,
    ]
    .iter()
    .map(|rel| {
        let text = read(rel).replace(INSTALLED_BIN, &dockhand_bin().display().to_string());
        dir.write(Path::new(rel).file_name().unwrap(), text)
    })
    .collect()
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let dir = TempDir::new();
    let units = units_with_real_binary(&dir);
    let mut cmd = Command::new(systemd_analyze());
    cmd.args(["verify", "--man=no"]).args(&units);
    // Unknown keys and bad values are only warnings (exit 0): nothing may be printed at all.
    let r = run(cmd, Duration::from_secs(60));
    assert!(
        r.success() && r.stdout.trim().is_empty() && r.stderr.trim().is_empty(),
        "systemd-analyze verify complains\n{r}"
    );

    // And it does complain about a misspelt option: the check above can fail.
    let bad = dir.write(
        "dockhand-bad.service",
        std::fs::read_to_string(&units[0]).unwrap() + "ProtectSytem=strict\n",
    );
    let mut cmd = Command::new(systemd_analyze());
    cmd.args(["verify", "--man=no"]).arg(&bad);
    let r = run(cmd, Duration::from_secs(60));
    assert!(
        r.stderr.contains("ProtectSytem"),
        "no warning for a misspelt key\n{r}"
    );
}

#[test]
fn systemd_units_stay_hardened() {
    // systemd's own exposure score (0 best, 10 worst) of each service, offline: 2.3 for doctor
    // (it reads the kernel log), 1.9 for gc, as shipped; a change that drops sandboxing options pushes them over the bar.
    let dir = TempDir::new();
    let units = units_with_real_binary(&dir);
    for unit in units
        .iter()
        .filter(|u| u.extension().is_some_and(|e| e == "service"))
    {
        let mut cmd = Command::new(systemd_analyze());
        cmd.args(["security", "--offline=yes", "--threshold=25", "--no-pager"])
            .arg(unit);
        let r = run(cmd, Duration::from_secs(60));
        let level = r
            .stdout
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .unwrap_or_else(|| panic!("no exposure level\n{r}"))
            .to_owned();
        assert!(
            r.success(),
            "exposure over 2.5 for {}: {level}\n{r}",
            unit.display()
        );
    }
}

#[test]
fn systemd_units_grant_exactly_what_each_command_needs() {
    for unit in [DOCTOR_SERVICE, GC_SERVICE] {
        let caps: BTreeSet<String> = unit_value(unit, "CapabilityBoundingSet")
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        // doctor also reads the kernel log (host.hung-tasks); gc never does.
        let mut want: BTreeSet<String> = ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]
            .map(String::from)
            .into();
        if unit == DOCTOR_SERVICE {
            want.insert("CAP_SYSLOG".into());
        }
        assert_eq!(caps, want, "{unit}");
        assert_eq!(
            unit_value(unit, "ProtectSystem").as_deref(),
            Some("strict"),
            "{unit}"
        );
        assert_eq!(
            unit_value(unit, "ProtectProc").as_deref(),
            Some("default"),
            "{unit}: /proc of every process is read"
        );
        assert_eq!(
            unit_value(unit, "ProcSubset").as_deref(),
            Some("all"),
            "{unit}: /proc/net is read"
        );
        for never in ["PrivateNetwork", "PrivateUsers", "DynamicUser", "User"] {
            assert_eq!(
                unit_value(unit, never),
                None,
                "{unit}: {never}= would blind it"
            );
        }
        assert_eq!(
            unit_value(unit, "RestrictAddressFamilies").as_deref(),
            Some("AF_UNIX")
        );
        assert_eq!(unit_value(unit, "Type").as_deref(), Some("oneshot"));
    }
    // doctor may write its textfile's directory, and only that.
    let exec = unit_value(DOCTOR_SERVICE, "ExecStart").unwrap();
    let words: Vec<&str> = exec.split_whitespace().collect();
    let textfile = words[words.iter().position(|w| *w == "--textfile").unwrap() + 1];
    let dir = Path::new(textfile).parent().unwrap().to_str().unwrap();
    assert_eq!(unit_values(DOCTOR_SERVICE, "ReadWritePaths"), [dir]);
    assert_eq!(
        unit_value(DOCTOR_SERVICE, "SuccessExitStatus").as_deref(),
        Some("1 2 3")
    );
    // gc writes its state dir, which systemd makes writable; the default --state-dir.
    assert_eq!(
        unit_value(GC_SERVICE, "StateDirectory").as_deref(),
        Some("dockhand")
    );
    assert_eq!(
        unit_values(GC_SERVICE, "ReadWritePaths"),
        Vec::<String>::new()
    );
    assert_eq!(
        Path::new(dockhand::actions::lock::DEFAULT_STATE_DIR),
        Path::new("/var/lib/dockhand")
    );
    // watch: doctor's reads, its state dir, and the scraper on loopback TCP; it signals nothing
    // as shipped (recovering needs the drop-in docs/watch.md gives).
    let caps: BTreeSet<String> = unit_value(WATCH_SERVICE, "CapabilityBoundingSet")
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        caps,
        ["CAP_DAC_READ_SEARCH", "CAP_SYS_PTRACE"]
            .map(String::from)
            .into()
    );
    for (key, want) in [
        ("ProtectSystem", "strict"),
        ("StateDirectory", "dockhand"),
        ("ProtectProc", "default"),
        ("ProcSubset", "all"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET"),
        ("IPAddressAllow", "localhost"),
        ("IPAddressDeny", "any"),
        ("Type", "exec"),
    ] {
        assert_eq!(
            unit_value(WATCH_SERVICE, key).as_deref(),
            Some(want),
            "{key}"
        );
    }
    for never in ["PrivateNetwork", "PrivateUsers", "DynamicUser", "User"] {
        assert_eq!(
            unit_value(WATCH_SERVICE, never),
            None,
            "{never}= would blind it"
        );
    }
    assert!(
        !unit_value(WATCH_SERVICE, "ExecStart")
            .unwrap()
            .contains("--recover"),
        "recovering needs a wider sandbox than the unit grants"
    );
    // The timers.
    assert_eq!(unit_value(GC_TIMER, "Persistent").as_deref(), Some("yes"));
    assert!(unit_value(GC_TIMER, "RandomizedDelaySec").is_some());
    assert!(unit_value(GC_TIMER, "OnCalendar").is_some());
    assert!(unit_value(DOCTOR_TIMER, "OnUnitInactiveSec").is_some());
}

/// `setpriv` arguments that leave a root process exactly `caps` (as CapabilityBoundingSet=
/// does: for root the bounding set is the permitted set after exec), with no_new_privs.
fn with_caps(caps: &[String]) -> Vec<String> {
    let mut bounding = String::from("-all");
    for c in caps {
        bounding.push_str(&format!(
            ",+{}",
            c.trim_start_matches("CAP_").to_lowercase()
        ));
    }
    vec![
        "setpriv".into(),
        format!("--bounding-set={bounding}"),
        "--inh-caps=-all".into(),
        "--no-new-privs".into(),
    ]
}

fn statuses(doc: &Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn doctor_with_the_units_capabilities_sees_what_root_sees() {
    let _clean = host_clean();
    let d = TestDaemon::builder().daemon_json(WELL_CONFIGURED).start();
    d.docker_ok(["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    let caps: Vec<String> = unit_value(DOCTOR_SERVICE, "CapabilityBoundingSet")
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let doctor = |wrapper: &[String]| {
        let w: Vec<&str> = wrapper.iter().map(String::as_str).collect();
        let r = dockhand_cmd()
            .args(["--host", &d.host(), "doctor", "--format", "json"])
            .run_via(&w);
        assert!(r.code.is_some_and(|c| c <= 3), "{r}");
        r.json()
    };
    let root = doctor(&[]);
    let unit = doctor(&with_caps(&caps));
    let none = doctor(&with_caps(&[]));
    // ports.stuck looks at the whole host, where other work may come and go between runs.
    let comparable = |doc: &Value| -> Vec<(String, String)> {
        statuses(doc)
            .into_iter()
            .filter(|(id, _)| id != "ports.stuck")
            .collect()
    };
    assert_eq!(
        comparable(&unit),
        comparable(&root),
        "with {caps:?} only\n{unit:#}"
    );
    assert!(
        !statuses(&unit).iter().any(|(_, s)| s == "unknown"),
        "nothing unseen with the unit's capabilities\n{unit:#}"
    );
    // Without them root is blind to dockerd's fds: the capabilities are needed, not decoration.
    assert_eq!(
        schema::check(&none, "daemon.process")["status"],
        "unknown",
        "{none:#}"
    );
}

// ---------------------------------------------------------------------------------------------
// The container image

/// The static binary, built once per test run by scripts/build-image into target/static (a
/// target dir of its own: other RUSTFLAGS would otherwise rebuild the ordinary target/). The
/// first build of a checkout takes minutes; after that cargo finds it fresh in about a second.
fn static_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let start = Instant::now();
        let mut cmd = Command::new(repo().join("scripts/build-image"));
        cmd.args(["--binary-only", "--print-binary"])
            .env("CARGO_TARGET_DIR", repo().join("target/static"));
        let r = run(cmd, Duration::from_secs(40 * 60));
        assert!(r.success(), "scripts/build-image --binary-only failed\n{r}");
        eprintln!("contrib: static binary ready in {:.1?}", start.elapsed());
        PathBuf::from(r.stdout.lines().last().expect("the binary's path"))
    })
}

/// Builds the image on `d` with scripts/build-image, tagged `tag`.
fn build_image(d: &TestDaemon, tag: &str) {
    static_binary();
    let mut cmd = Command::new(repo().join("scripts/build-image"));
    cmd.args(["--tag", tag])
        .env("CARGO_TARGET_DIR", repo().join("target/static"))
        .env("DOCKER_HOST", d.host())
        .env("DOCKER", docker_cli())
        .env("DOCKER_CONFIG", d.dir().join("docker-cli"))
        // The classic builder: FROM scratch + COPY needs nothing else, and a docker CLI
        // without the buildx plugin cannot drive BuildKit.
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_CONTEXT");
    let r = run(cmd, Duration::from_secs(10 * 60));
    assert!(
        r.success(),
        "scripts/build-image failed\n{r}\n--- dockerd.log ---\n{}",
        d.log_tail(20)
    );
}

/// `docker run --rm` of the image on `d` with `flags`, then `args` for dockhand.
fn run_image(d: &TestDaemon, flags: &[String], args: &[&str]) -> Run {
    let mut a: Vec<String> = vec!["run".into(), "--rm".into()];
    a.extend(flags.iter().cloned());
    a.push("dockhand:test".into());
    a.extend(args.iter().map(|s| s.to_string()));
    d.docker(a)
}

/// The mounts docs/deploy.md gives the container, for this daemon's own paths: each at the
/// same path as on the host, since the engine and dockerd's command line report host paths.
fn full_access(d: &TestDaemon) -> Vec<String> {
    let mut f: Vec<String> = [
        "--pid",
        "host",
        "--network",
        "host",
        "--cap-add",
        "SYS_PTRACE",
        // The kernel log, for host.hung-tasks (CAP_SYSLOG where kernel.dmesg_restrict is 1).
        "--cap-add",
        "SYSLOG",
        "--device",
        "/dev/kmsg:/dev/kmsg:r",
    ]
    .map(String::from)
    .into();
    let same = |p: PathBuf, ro: bool| {
        let p = p.display().to_string();
        format!("{p}:{p}{}", if ro { ":ro" } else { "" })
    };
    for (path, ro) in [
        (d.socket(), false),
        (d.data_root(), true),
        (d.daemon_json(), true),
        (d.pidfile(), true),
    ] {
        f.push("-v".into());
        f.push(same(path, ro));
    }
    f.push("-e".into());
    f.push(format!("DOCKER_HOST={}", d.host()));
    f
}

/// Checks that report "unknown" in a container given only the engine's socket, and why. The
/// table in docs/deploy.md says the same.
const NEED_HOST_PID: &[&str] = &[
    "daemon.process",
    "daemon.tcp-exposed",
    "containers.ghost",
    "processes.orphan-shims",
    "processes.zombies",
    "ports.leaked-proxy",
    "pulls.stalled",
];
const NEED_DATA_ROOT: &[&str] = &[
    "disk.data-root",
    "containers.logs",
    "storage.leaked-layers",
    "storage.tmp",
];

#[test]
fn container_image_runs_doctor_and_df_against_its_daemon() {
    let _clean = host_clean();
    let d = TestDaemon::builder().daemon_json(WELL_CONFIGURED).start();
    build_image(&d, "dockhand:test");

    // The image is the binary alone: no shell, nothing but its bytes.
    let size: u64 = d
        .docker_ok(["image", "inspect", "--format", "{{.Size}}", "dockhand:test"])
        .parse()
        .unwrap();
    let bin = std::fs::metadata(static_binary()).unwrap().len();
    assert!(
        size >= bin && size - bin < 64 * 1024,
        "image {size} bytes, binary {bin}"
    );
    let sh = run_image(
        &d,
        &["--entrypoint".into(), "/bin/sh".into()],
        &["-c", "true"],
    );
    assert!(!sh.success(), "the image has a shell\n{sh}");

    // doctor with what docs/deploy.md gives it sees what doctor on the host sees.
    let host = dockhand_cmd()
        .args(["--host", &d.host(), "doctor", "--format", "json"])
        .run();
    assert!(host.code.is_some_and(|c| c <= 3), "{host}");
    let host = host.json();
    let r = run_image(&d, &full_access(&d), &["doctor", "--format", "json"]);
    assert!(
        r.code.is_some_and(|c| c <= 3),
        "{r}\n--- dockerd.log ---\n{}",
        d.log_tail(20)
    );
    let inside = r.json();
    schema::validate_report(&inside, schema::Evidence::TypesOnly).unwrap();
    let unknown: Vec<_> = statuses(&inside)
        .into_iter()
        .filter(|(_, s)| s == "unknown")
        .collect();
    assert!(
        unknown.is_empty(),
        "unseen from the container: {unknown:?}\n{inside:#}"
    );
    let comparable = |doc: &Value| -> Vec<(String, String)> {
        statuses(doc)
            .into_iter()
            .filter(|(id, _)| id != "ports.stuck")
            .collect()
    };
    assert_eq!(
        comparable(&inside),
        comparable(&host),
        "container vs host\n{inside:#}"
    );
    assert_eq!(
        schema::check(&inside, "daemon.process")["evidence"]["pid"],
        d.pid(),
        "{inside:#}"
    );

    // df reads the data root from inside: figures from disk, not the engine's.
    let r = run_image(&d, &full_access(&d), &["df", "--format", "json"]);
    assert_eq!(r.code, Some(0), "{r}");
    let df = r.json();
    assert_eq!(df["schema"], "dockhand.df/v1");
    assert_eq!(df["source"], "disk", "{df:#}");
    assert_eq!(df["data_root"], d.data_root().display().to_string());
    assert!(
        df["images"]["count"].as_u64().unwrap() >= 2,
        "busybox and dockhand:test\n{df:#}"
    );

    // With only the socket, as the shortest command in the docs: the API checks answer, the
    // ones that need the host's processes or the data root say "unknown", and df falls back on
    // the engine's figures.
    let socket_only = [
        "-v".to_owned(),
        format!("{}:/var/run/docker.sock", d.socket().display()),
    ];
    let r = run_image(&d, &socket_only, &["doctor", "--format", "json"]);
    assert!(r.code.is_some_and(|c| c <= 3), "{r}");
    let blind = r.json();
    for id in [
        "daemon.reachable",
        "daemon.responsive",
        "containers.exited",
        "images.dangling",
        "volumes.dangling",
    ] {
        assert_eq!(schema::check(&blind, id)["status"], "ok", "{id}\n{blind:#}");
    }
    for id in NEED_HOST_PID.iter().chain(NEED_DATA_ROOT) {
        assert_eq!(
            schema::check(&blind, id)["status"],
            "unknown",
            "{id}\n{blind:#}"
        );
    }
    let r = run_image(&d, &socket_only, &["df", "--format", "json"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.json()["source"], "engine");
}

#[test]
fn deploy_guide_names_what_each_check_needs_from_the_container() {
    let md = read(DEPLOY_MD);
    for id in NEED_HOST_PID.iter().chain(NEED_DATA_ROOT) {
        assert!(
            md.contains(&format!("`{id}`")),
            "docs/deploy.md does not say what {id} needs"
        );
    }
}

#[test]
fn npd_plugin_rules_run_from_an_image_built_like_dockerfile_npd() {
    // Dockerfile.npd copies the binary into node-problem-detector's image. No registry is
    // reachable here, so the base is the busybox image every test daemon has; the binary is
    // static, so the base does not matter to it. Each rule then runs as NPD would run it.
    let d = TestDaemon::builder().daemon_json(WELL_CONFIGURED).start();
    build_image(&d, "dockhand:test");
    let mut cmd = d.docker_command();
    cmd.env("DOCKER_BUILDKIT", "0").args([
        "build",
        "--build-arg",
        "DOCKHAND_IMAGE=dockhand:test",
        "--build-arg",
        "NPD_IMAGE=busybox:latest",
        "-t",
        "npd:test",
        "-f",
    ]);
    cmd.arg(repo().join(NPD_DOCKERFILE))
        .arg(repo().join("contrib/deploy/kubernetes"));
    let r = run(cmd, Duration::from_secs(120));
    assert!(r.success(), "{r}");

    let cfg = json_file(NPD_JSON);
    let max = cfg["pluginConfig"]["max_output_length"].as_u64().unwrap() as usize;
    let mut flags = full_access(&d);
    flags.splice(0..0, ["--rm".to_owned()]);
    for rule in cfg["rules"].as_array().unwrap() {
        let mut a = vec!["run".to_owned()];
        a.extend(flags.iter().cloned());
        a.extend([
            "--entrypoint".into(),
            rule["path"].as_str().unwrap().to_owned(),
            "npd:test".into(),
        ]);
        a.extend(
            rule["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned()),
        );
        let r = d.docker(&a);
        // NPD's contract: 0 ok, 1 problem, 2 unknown; one short line.
        assert_eq!(r.code, Some(0), "a healthy daemon: every rule ok\n{r}");
        assert_eq!(r.stdout.trim_end().lines().count(), 1, "{r}");
        assert!(
            r.stdout.trim_end().len() <= max,
            "longer than max_output_length {max}\n{r}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Docker Swarm

/// A loopback address of this run's own (127.77.x.y): swarm's gossip listens on a fixed port
/// (7946), so two runs at once must not share an address.
fn loopback_of_this_run() -> String {
    let pid = std::process::id();
    format!("127.77.{}.{}", (pid >> 8) & 0xff, (pid % 254) + 1)
}

fn free_port(addr: &str) -> u16 {
    std::net::TcpListener::bind((addr, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn swarm_global_service_runs_doctor_on_the_node() {
    let d = TestDaemon::start();
    build_image(&d, "dockhand:test");
    let addr = loopback_of_this_run();
    let port = free_port(&addr);
    d.docker_ok([
        "swarm",
        "init",
        "--advertise-addr",
        &addr,
        "--listen-addr",
        &format!("{addr}:{port}"),
    ]);

    let files = TempDir::new();
    let textfile_dir = files.join("textfile");
    std::fs::create_dir(&textfile_dir).unwrap();
    std::fs::set_permissions(&textfile_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config_dir = files.join("etc-docker");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::copy(d.daemon_json(), config_dir.join("daemon.json")).unwrap();

    let mut cmd = d.docker_command();
    cmd.args(["stack", "deploy", "-c"])
        .arg(repo().join(SWARM))
        .arg("dockhand")
        .env("DOCKHAND_IMAGE", "dockhand:test")
        .env("DOCKER_SOCKET", d.socket())
        .env("DOCKER_DATA_ROOT", d.data_root())
        .env("DOCKER_CONFIG_DIR", &config_dir)
        .env("TEXTFILE_DIR", &textfile_dir);
    let r = run(cmd, Duration::from_secs(120));
    assert!(r.success(), "docker stack deploy failed\n{r}");
    assert!(
        !r.stderr.contains("Ignoring"),
        "stack deploy ignored options\n{r}"
    );
    let mode = d.docker_ok([
        "service",
        "inspect",
        "--format",
        "{{json .Spec.Mode}}",
        "dockhand_doctor",
    ]);
    assert!(mode.contains("Global"), "{mode}");

    // The task runs doctor once and exits; its textfile shows up on the node.
    let prom = textfile_dir.join("dockhand.prom");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !prom.exists() {
        if Instant::now() > deadline {
            let ps = d.docker(["service", "ps", "--no-trunc", "dockhand_doctor"]);
            panic!(
                "no textfile after 90 s\n{ps}\n--- dockerd.log ---\n{}",
                d.log_tail(30)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = std::fs::read_to_string(&prom).unwrap();
    // node_exporter runs as another user: the file must be readable by it.
    let mode = std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "textfile mode {mode:o}");
    let status_of = |check: &str| -> Option<String> {
        let key = format!("dockhand_check_status{{check=\"{check}\",");
        text.lines()
            .find(|l| l.starts_with(&key))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
    };
    for ok in [
        "daemon.reachable",
        "daemon.responsive",
        "disk.data-root",
        "storage.mounts",
        "images.dangling",
    ] {
        assert_eq!(status_of(ok).as_deref(), Some("0"), "{ok}\n{text}");
    }
    // What a task cannot see is skipped, not reported unknown.
    for skipped in [
        "daemon.process",
        "daemon.tcp-exposed",
        "processes.zombies",
        "ports.stuck",
        "pulls.stalled",
    ] {
        assert_eq!(status_of(skipped), None, "{skipped}\n{text}");
    }
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("dockhand_check_status{") && l.ends_with(" 3")),
        "no check unknown\n{text}"
    );
    // The task ended (doctor exits: 0, or 1-3 with problems in the metrics, which swarm calls
    // "Failed … non-zero exit"), and swarm keeps the service for the next run.
    // `Failed 5 seconds ago|"task: non-zero exit (1)"`: the error comes quoted.
    let ended = |line: &str| {
        let line = line.trim_end().trim_end_matches('"');
        line.starts_with("Complete")
            || (line.starts_with("Failed")
                && ["(1)", "(2)", "(3)"]
                    .iter()
                    .any(|c| line.ends_with(&format!("non-zero exit {c}"))))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let states = loop {
        let states = d.docker_ok([
            "service",
            "ps",
            "--format",
            "{{.CurrentState}}|{{.Error}}",
            "dockhand_doctor",
        ]);
        if states.lines().any(ended) || Instant::now() > deadline {
            break states;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        states.lines().any(ended),
        "no task ended as doctor does (exit 0-3)\n{states}"
    );
    assert!(
        !states.lines().any(|l| l.starts_with("Failed") && !ended(l)),
        "a task failed otherwise\n{states}"
    );
    let services = d.docker_ok(["service", "ls", "--format", "{{.Name}}"]);
    assert!(
        services.lines().any(|s| s == "dockhand_doctor"),
        "the service is gone: {services}"
    );

    d.docker_ok(["stack", "rm", "dockhand"]);
    d.docker_ok(["swarm", "leave", "--force"]);
}

// ---------------------------------------------------------------------------------------------
// scripts/tour: the first run README sends a newcomer to. It needs a machine of its own to run
// end to end (it is run by hand, `scripts/tour`); here it is held to what can drift silently.

const TOUR: &str = "scripts/tour";

/// The global options that take a value: they may come before the subcommand.
const GLOBAL_WITH_VALUE: &[&str] = &[
    "--host",
    "-H",
    "--context",
    "--timeout",
    "--config",
    "--color",
    "--state-dir",
];

/// The dockhand command lines scripts/tour runs: its `show WORDS…` and `dh WORDS…` calls (both
/// run the binary on those words), split as the shell splits these plain lines; a word with a
/// variable in it stands in as `x`.
fn tour_lines() -> Vec<Vec<String>> {
    read(TOUR)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("show ").or_else(|| l.strip_prefix("dh "))?;
            Some(
                rest.split_whitespace()
                    .map(|w| {
                        if w.contains('$') {
                            "x".to_owned()
                        } else {
                            w.trim_matches(|c| c == '"' || c == '\'').to_owned()
                        }
                    })
                    .collect(),
            )
        })
        .collect()
}

/// The subcommand of a command line: its first word that is neither a global option nor one's
/// value.
fn subcommand_of(words: &[String]) -> Option<&str> {
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if GLOBAL_WITH_VALUE.contains(&w) {
            i += 2;
        } else if w.starts_with('-') {
            i += 1;
        } else {
            return Some(w);
        }
    }
    None
}

#[test]
fn the_tour_is_valid_shell_and_runs_only_subcommands_that_exist() {
    let r = run(
        {
            let mut c = Command::new("bash");
            c.arg("-n").arg(repo().join(TOUR));
            c
        },
        Duration::from_secs(30),
    );
    assert!(r.success(), "bash -n {TOUR}\n{r}");

    let lines = tour_lines();
    let have = subcommands();
    let mut ran = BTreeSet::new();
    for words in &lines {
        let sub = subcommand_of(words).unwrap_or_else(|| {
            panic!("{TOUR}: `dockhand {}` names no subcommand", words.join(" "))
        });
        assert!(
            have.contains(sub),
            "{TOUR} runs `dockhand {sub}`, which does not exist (there are: {have:?})"
        );
        // The whole line parses as the binary would parse it: flags, values, their order.
        let parsed = dockhand::cli::Cli::try_parse_from(
            std::iter::once("dockhand".to_owned()).chain(words.iter().cloned()),
        );
        assert!(
            parsed.is_ok(),
            "{TOUR}: `dockhand {}` does not parse: {}",
            words.join(" "),
            parsed.err().map(|e| e.to_string()).unwrap_or_default()
        );
        ran.insert((sub.to_owned(), words.iter().any(|w| w == "--apply")));
    }
    // What the tour promises to show: an extractor that found nothing would pass the loop above.
    for (sub, apply) in [
        ("doctor", false),
        ("df", false),
        ("ports", false),
        ("gc", false),
        ("gc", true),
        ("reap", false),
        ("reap", true),
        ("journal", false),
        ("recover", true),
    ] {
        assert!(
            ran.contains(&(sub.to_owned(), apply)),
            "{TOUR} no longer runs `dockhand {sub}{}`: {lines:?}",
            if apply { " --apply" } else { "" }
        );
    }
}
