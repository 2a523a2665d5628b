# shellcheck shell=bash
# What bench-watch and soak-watch share: a throwaway daemon seeded with N quiet
# (stopped) containers, the dockhand binary, and reading a process's RSS and CPU.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=throwaway-daemon.sh
source "$ROOT/scripts/lib/throwaway-daemon.sh"

PYTHON=${PYTHON:-python3}
BASE_IMAGE=bench-watch-base:1
SEED_LABEL=dockhand.bench=watch

die() { echo "${0##*/}: $*" >&2; exit 1; }

# The binary: $DOCKHAND, else a release build of this tree.
dockhand_bin() {
    if [[ -n ${DOCKHAND:-} ]]; then
        [[ -x $DOCKHAND ]] || die "DOCKHAND=$DOCKHAND is not an executable"
        echo "$DOCKHAND"
        return
    fi
    (cd "$ROOT" && cargo build --release --locked -q) >&2 || die "cargo build --release failed"
    echo "$ROOT/target/release/dockhand"
}

# Starts a throwaway daemon under a private directory and seeds it with $1
# stopped containers (created, never started: a quiet host) from a busybox
# image made by `docker import`. Sets WORK; the caller's EXIT trap calls cleanup.
seed_quiet_daemon() {
    local containers=$1 rootfs applet
    WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/bw.XXXXXX")
    td_start "$WORK" || die "cannot start a throwaway dockerd"
    td_wait_ready 60 || die "the throwaway dockerd did not answer"
    rootfs=$WORK/rootfs
    mkdir -p "$rootfs"/{bin,etc,tmp}
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [[ $applet == busybox ]] || ln -s busybox "$rootfs/bin/$applet"
    done
    tar -C "$rootfs" --numeric-owner -cf - . |
        td_docker import --change 'CMD ["/bin/sh"]' --change "LABEL $SEED_LABEL" - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    echo "==> seeding $containers quiet containers" >&2
    "$PYTHON" -c 'import json, sys
json.dump({"containers": int(sys.argv[1]), "ran": 0, "images": 1, "dangling": 0, "volumes": 0,
           "jobs": 8, "base_image": sys.argv[2], "label": sys.argv[3], "ran_script": "true"}, sys.stdout)' \
        "$containers" "$BASE_IMAGE" "$SEED_LABEL" >"$WORK/seed-spec.json"
    "$PYTHON" "$ROOT/scripts/lib/seed.py" "$TD_SOCK" "$WORK/seed-spec.json" >"$WORK/seed.log" 2>&1 ||
        die "seeding failed: $(tail -n 5 "$WORK/seed.log")"
    local got
    got=$(td_docker ps -aq | wc -l)
    (( got == containers )) || die "the daemon holds $got containers, not $containers"
}

# RSS of PID in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# CPU of PID in clock ticks: its own (utime + stime) and its children's it has
# waited for (cutime + cstime) — serve and watch run each full doctor in a child.
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }

# A free loopback port.
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until PORT answers /metrics (at most 30 s).
wait_metrics() {
    local port=$1 i
    for (( i = 0; i < 300; i++ )); do
        if "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=2).read()' "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "nothing answers on 127.0.0.1:$port/metrics"
}

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
