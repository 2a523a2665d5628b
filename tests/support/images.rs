//! Images made by the test, without a registry: a `docker save`-format tarball written by hand
//! (manifest.json, each image's config with its own `created` date and labels, its layers as
//! plain tars) and `docker load`ed. Content-addressed, so the same spec gives the same image id
//! on every daemon — two daemons seeded alike hold the same images — and a layer two images
//! share is stored once.

use sha2::{Digest, Sha256};

use super::TestDaemon;
use super::daemon::tar_entry;

/// One layer, as the tar the image carries.
#[derive(Debug, Clone)]
pub struct Layer(Vec<u8>);

impl Layer {
    /// One file of `size` bytes of incompressible-looking content derived from `seed`: distinct
    /// seeds give distinct layers (and distinct ids).
    pub fn blob(seed: &str, size: usize) -> Layer {
        let mut data = Vec::with_capacity(size + 32);
        let mut block = Sha256::digest(seed.as_bytes()).to_vec();
        while data.len() < size {
            data.extend_from_slice(&block);
            block = Sha256::digest(&block).to_vec();
        }
        data.truncate(size);
        let mut t = Vec::new();
        tar_entry(&mut t, "data/", b'5', 0o755, "", &[]);
        tar_entry(&mut t, &format!("data/{seed}"), b'0', 0o644, "", &data);
        t.extend_from_slice(&[0u8; 1024]);
        Layer(t)
    }

    /// The host's static busybox with the applets a test runs (sh, sleep, true): a base layer
    /// containers can run from, the same bytes on every daemon.
    pub fn busybox() -> Layer {
        let bin = std::fs::read(super::daemon::BUSYBOX).unwrap();
        let mut t = Vec::new();
        for d in ["bin/", "tmp/", "etc/"] {
            tar_entry(&mut t, d, b'5', 0o755, "", &[]);
        }
        tar_entry(&mut t, "bin/busybox", b'0', 0o755, "", &bin);
        for a in ["sh", "sleep", "true", "echo", "cat"] {
            tar_entry(&mut t, &format!("bin/{a}"), b'2', 0o777, "busybox", &[]);
        }
        t.extend_from_slice(&[0u8; 1024]);
        Layer(t)
    }

    pub fn tar(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// An image: tags, creation date (RFC 3339), labels, layers base first.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub tags: Vec<String>,
    pub created: String,
    pub labels: Vec<(String, String)>,
    pub layers: Vec<Layer>,
}

impl ImageSpec {
    pub fn new(tag: &str, layers: Vec<Layer>) -> ImageSpec {
        ImageSpec {
            tags: if tag.is_empty() {
                vec![]
            } else {
                vec![tag.to_string()]
            },
            created: "2024-01-01T00:00:00Z".into(),
            labels: Vec::new(),
            layers,
        }
    }

    pub fn created(mut self, when: &str) -> ImageSpec {
        self.created = when.into();
        self
    }

    pub fn label(mut self, k: &str, v: &str) -> ImageSpec {
        self.labels.push((k.into(), v.into()));
        self
    }

    fn config(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|l| format!("sha256:{}", hex(&Sha256::digest(l.tar()))))
            .collect();
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let history: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|_| serde_json::json!({ "created": self.created, "created_by": "dockhand test" }))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": self.created,
            "config": { "Cmd": ["sh"], "Labels": labels },
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": history,
        }))
        .unwrap()
    }

    /// The image id the engine will give it.
    pub fn id(&self) -> String {
        format!("sha256:{}", hex(&Sha256::digest(self.config())))
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A `docker save`-format tarball holding `images`.
pub fn save_tar(images: &[ImageSpec]) -> Vec<u8> {
    let mut t = Vec::new();
    let mut manifest = Vec::new();
    let mut written: Vec<String> = Vec::new();
    for img in images {
        let config = img.config();
        let cid = hex(&Sha256::digest(&config));
        let config_name = format!("{cid}.json");
        if !written.contains(&config_name) {
            tar_entry(&mut t, &config_name, b'0', 0o644, "", &config);
            written.push(config_name.clone());
        }
        let mut layers = Vec::new();
        for l in &img.layers {
            let tar = l.tar();
            let lid = hex(&Sha256::digest(&tar));
            let name = format!("{lid}/layer.tar");
            if !written.contains(&name) {
                tar_entry(&mut t, &format!("{lid}/"), b'5', 0o755, "", &[]);
                tar_entry(&mut t, &name, b'0', 0o644, "", &tar);
                written.push(name.clone());
            }
            layers.push(name);
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": img.tags,
            "Layers": layers,
        }));
    }
    let m = serde_json::to_vec(&manifest).unwrap();
    tar_entry(&mut t, "manifest.json", b'0', 0o644, "", &m);
    t.extend_from_slice(&[0u8; 1024]);
    t
}

/// `docker load`s `images` into `d`; returns their ids.
pub fn load(d: &TestDaemon, images: &[ImageSpec]) -> Vec<String> {
    let mut cmd = d.docker_command();
    cmd.args(["load", "-q"]);
    let r = super::run_with_input(cmd, Some(save_tar(images)), super::daemon::DOCKER_TIMEOUT);
    assert!(
        r.success(),
        "docker load failed\n{r}\n--- dockerd.log ---\n{}",
        d.log_tail(30)
    );
    images.iter().map(ImageSpec::id).collect()
}
