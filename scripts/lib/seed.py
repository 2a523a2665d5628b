"""Seeds a throwaway Docker daemon for the benchmarks, through the Engine API.

Usage: python3 seed.py SOCKET SPEC.json

SPEC holds: containers, ran, images, dangling, volumes, jobs, base_image,
label ("key=value"), ran_script. The base image must exist already (it is made
with `docker import` by the caller). See scripts/bench-doctor --help for what
each object is.

Why the API and not the docker CLI: each `docker create` is a Go client
starting up (~40 ms of CPU), as much as the daemon's own work for a
container, and on 2 cores that halved the seeding rate (~23 containers/s with
4 clients). Here one process keeps --jobs requests in flight on their own
connections, so the daemon is the only limit. The requests are the ones the
CLI sends for the same commands (`docker create`, `docker run -d`, `docker cp`,
`docker commit`, `docker volume create`), so the daemon holds the same
records either way.
"""

import http.client
import io
import json
import os
import socket
import sys
import tarfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, as_completed


class Failed(Exception):
    pass


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=300):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


# One keep-alive connection per worker thread: a new connection per request
# would cost the daemon an accept and a goroutine each.
_local = threading.local()


def call(sock, method, path, body=None, content_type="application/json", ok=(200, 201, 204, 304)):
    data = None
    headers = {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    for attempt in (1, 2):
        conn = getattr(_local, "conn", None)
        if conn is None:
            conn = _local.conn = UnixConnection(sock)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            break
        except (ConnectionError, http.client.HTTPException, OSError):
            # The daemon closed an idle keep-alive connection: once more, anew.
            conn.close()
            _local.conn = None
            if attempt == 2:
                raise
    if resp.status not in ok:
        raise Failed(f"{method} {path}: {resp.status} {raw[:300].decode(errors='replace')}")
    return json.loads(raw) if raw and resp.getheader("Content-Type", "").startswith("application/json") else None


def q(**kw):
    return urllib.parse.urlencode(kw, doseq=True)


class Progress:
    def __init__(self, label, total):
        self.label, self.total, self.n, self.t0 = label, total, 0, time.monotonic()
        self.step = max(total // 10, 1)
        self.lock = threading.Lock()

    def tick(self):
        with self.lock:
            self.n += 1
            if self.n % self.step == 0 and self.n < self.total:
                rate = self.n / (time.monotonic() - self.t0)
                print(f"    {self.label:<11} {self.n:>5}/{self.total}  ({rate:.0f}/s)", file=sys.stderr, flush=True)

    def end(self):
        t = time.monotonic() - self.t0
        rate = f"{self.n / t:.0f}/s" if t > 0 and self.n else "-"
        print(f"    {self.label:<11} {self.n:>5}/{self.total}  {t:6.1f} s  ({rate})", file=sys.stderr, flush=True)


def parallel(label, jobs, fn, items):
    items = list(items)
    if not items:
        return
    p = Progress(label, len(items))
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        futures = [ex.submit(fn, i) for i in items]
        for f in as_completed(futures):
            f.result()  # the first failure ends the seeding
            p.tick()
    p.end()


def main():
    sock = sys.argv[1]
    s = json.load(open(sys.argv[2]))
    containers, ran, images, dangling, volumes = (s[k] for k in ("containers", "ran", "images", "dangling", "volumes"))
    jobs, base = s["jobs"], s["base_image"]
    lk, lv = s["label"].split("=", 1)
    tagged = images - 1 - dangling  # committed images with a tag
    used_images = (tagged * 3 + 3) // 4 if tagged > 0 else 0  # ... that containers use
    volumes_in_use = min((volumes + 1) // 2, containers)

    def image_ref(i):
        return f"dockhand-bench/img:{i:04d}"

    def volume_name(i):
        return f"dockhand-bench-v{i:04d}"

    def container_name(c):
        return f"dockhand-bench-c{c:04d}"

    # Image I (1-based; 0 is the base): the base plus one layer holding an id
    # file and 4-128 KiB of noise, so every image has its own ID and size but
    # all share the base layer, as images built FROM one base do. Committed
    # from a container that never starts, which is far cheaper than running
    # one. Past `tagged` the commit gets no tag: a dangling image.
    def seed_image(i):
        c = call(sock, "POST", "/containers/create", {
            "Image": base, "Cmd": ["true"], "Labels": {lk: lv},
            "HostConfig": {"NetworkMode": "none"}})
        cid = c["Id"]
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in (("seed/id", f"dockhand bench image {i}\n".encode()),
                               ("seed/blob", os.urandom((i % 32 + 1) * 4096))):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        call(sock, "PUT", f"/containers/{cid}/archive?" + q(path="/"), buf.getvalue(), "application/x-tar")
        args = {"container": cid, "changes": [f"LABEL dockhand.bench.image={i}", 'CMD ["/bin/sh"]']}
        if i <= tagged:
            repo, tag = image_ref(i).rsplit(":", 1)
            args.update(repo=repo, tag=tag)
        call(sock, "POST", "/commit?" + q(**args), {})
        call(sock, "DELETE", f"/containers/{cid}")

    def seed_volume(i):
        call(sock, "POST", "/volumes/create", {"Name": volume_name(i), "Labels": {lk: lv}})

    # Container C (0-based). The first `ran` really run, detached (as `docker
    # run -d`: nothing attached), so a failing exit status is the container's
    # business; the rest are only created (as `docker create`, which attaches
    # stdout and stderr), which is all "stopped" needs.
    def seed_container(c):
        img = image_ref(c % used_images + 1) if used_images > 0 else base
        host = {"NetworkMode": "none"}
        if c < volumes_in_use:
            host["Binds"] = [f"{volume_name(c)}:/vol"]
        runs = c < ran
        cmd = ["sh", "-c", s["ran_script"], "sh", str(c)] if runs else ["sh", "-c", "echo never started"]
        body = {"Image": img, "Cmd": cmd, "Labels": {lk: lv}, "HostConfig": host,
                "AttachStdout": not runs, "AttachStderr": not runs}
        cid = call(sock, "POST", "/containers/create?" + q(name=container_name(c)), body)["Id"]
        if runs:
            call(sock, "POST", f"/containers/{cid}/start")

    parallel("images", jobs, seed_image, range(1, images))
    parallel("volumes", jobs, seed_volume, range(volumes))
    parallel("containers", jobs, seed_container, range(containers))


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"seed: {e}", file=sys.stderr)
        sys.exit(1)
