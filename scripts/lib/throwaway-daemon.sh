# shellcheck shell=bash
# Throwaway dockerd for benchmarks and tests: everything it owns (data root,
# exec root, socket, pidfile, its supervised containerd) lives in one private
# directory, so it can never touch the machine's own daemon or
# /var/run/docker.sock, and removing that directory removes every trace.
#
# Usage (source it, then):
#   td_start DIR          start dockerd with its state under DIR (must exist,
#                         should be private: td_stop deletes it)
#   td_wait_ready [SECS]  block until the daemon answers, or fail (default 60 s)
#   td_adopt DIR          reuse DIR, left by `td_stop --keep`: its daemon if it is
#                         still running, else a new dockerd on the state it holds
#   td_stop [--keep|--keep-dir]
#                         stop it, unmount what it left under DIR, rm -rf DIR;
#                         --keep leaves it running and DIR in place, --keep-dir
#                         stops it but keeps DIR (a seed worth reusing);
#                         idempotent, safe to call from an EXIT trap
#   td_docker ARGS...     run the docker client against it
#   td_engine NAME        before td_start: run engine NAME of the matrix
#                         (20.10, 26.1, 28.5, 28.5-containerd) instead of the
#                         system's dockerd (see td_engine below)
#
# Sets: TD_DIR, TD_SOCK, TD_HOST (unix://…), TD_PID (the reaper's pid),
# TD_ADOPTED (1 when td_adopt found the daemon already running).
# Honors: TD_DOCKERD (default /usr/sbin/dockerd), TD_DOCKER (the client;
# default /usr/bin/docker, the 20.10 client matching the 20.10 daemon).

TD_DOCKER_GIVEN=${TD_DOCKER:+1}
TD_DOCKERD=${TD_DOCKERD:-/usr/sbin/dockerd}
TD_DOCKER=${TD_DOCKER:-/usr/bin/docker}
# Set by td_engine: the daemon's PATH (where it finds containerd, the shim,
# docker-proxy, docker-init and runc), its daemon.json, and the engine's name.
TD_ENGINE=20.10
TD_PATH=$PATH
TD_DAEMON_JSON='{}'
TD_ENGINES=${TD_ENGINES:-/opt/dockhand-engines}
TD_DIR=
TD_SOCK=
TD_HOST=
TD_PID=
TD_ADOPTED=0

td_docker() { "$TD_DOCKER" -H "$TD_HOST" "$@"; }

td_start() {
    TD_DIR=$(cd "$1" && pwd -P)
    TD_SOCK=$TD_DIR/docker.sock
    TD_HOST=unix://$TD_SOCK
    # sun_path is 108 bytes; containerd's socket sits deeper than ours.
    if (( ${#TD_DIR} > 60 )); then
        echo "throwaway-daemon: '$TD_DIR' is too long for unix socket paths" >&2
        return 1
    fi
    mkdir -p "$TD_DIR/data" "$TD_DIR/exec"
    printf '%s\n' "$TD_DAEMON_JSON" >"$TD_DIR/daemon.json"
    # A daemon with the containerd image store manages a containerd whose
    # namespaces are shared by every daemon on the host unless named: its own.
    local ns=() tag
    if [[ $TD_ENGINE == *-containerd ]]; then
        tag=td$(printf '%s' "$TD_DIR" | md5sum | cut -c1-12)
        ns=(--containerd-namespace "$tag" --containerd-plugins-namespace "$tag-plugins")
    fi

    # docker-init (tini) in subreaper mode (-s) sits between us and dockerd:
    # containerd-shim daemonises and would be reparented to PID 1, which does
    # not reap here, so every container that ran would leave a zombie.
    # setsid keeps the daemon out of the terminal's process group: a Ctrl-C
    # must reach only this script, whose trap then shuts the daemon down in
    # order instead of racing it.
    # --bridge=none/--iptables=false: no host networking is touched.
    PATH=$TD_PATH setsid /usr/bin/docker-init -s -- "$TD_DOCKERD" "${ns[@]}" \
        --data-root "$TD_DIR/data" \
        --exec-root "$TD_DIR/exec" \
        --pidfile "$TD_DIR/docker.pid" \
        -H "$TD_HOST" \
        --config-file "$TD_DIR/daemon.json" \
        --bridge=none --iptables=false --ip6tables=false \
        >"$TD_DIR/dockerd.log" 2>&1 </dev/null &
    TD_PID=$!
    echo "$TD_PID" >"$TD_DIR/reaper.pid"
}

td_adopt() {
    local dir pid
    dir=$(cd "$1" && pwd -P) || return 1
    if [[ ! -d $dir/data ]]; then
        echo "throwaway-daemon: '$dir' holds no daemon state (no data/): not a kept daemon's directory" >&2
        return 1
    fi
    pid=$(cat "$dir/reaper.pid" 2>/dev/null) || pid=
    # The pid file may name a process long gone and a pid since reused: only a
    # live process whose command line names this directory is its daemon.
    if [[ $pid =~ ^[0-9]+$ ]] && td__alive "$pid" &&
        [[ $( { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) == *"$dir/"* ]]; then
        TD_DIR=$dir TD_SOCK=$dir/docker.sock TD_HOST=unix://$dir/docker.sock TD_PID=$pid TD_ADOPTED=1
        return 0
    fi
    TD_ADOPTED=0
    td_start "$dir"
}

# Alive and not a zombie (kill -0 succeeds on zombies, and our own children
# stay zombies until we wait for them).
td__alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

td_wait_ready() {
    local secs=${1:-60} deadline
    deadline=$(( $(date +%s) + secs ))
    until td_docker version >/dev/null 2>&1; do
        if ! td__alive "$TD_PID"; then
            echo "throwaway-daemon: dockerd exited during start-up; last log lines:" >&2
            tail -n 20 "$TD_DIR/dockerd.log" >&2
            return 1
        fi
        if (( $(date +%s) >= deadline )); then
            echo "throwaway-daemon: no answer on $TD_HOST after ${secs}s; last log lines:" >&2
            tail -n 20 "$TD_DIR/dockerd.log" >&2
            return 1
        fi
        sleep 0.1
    done
}

# Pids whose command line names our private directory: dockerd, its
# containerd, and any shim. The directory is mktemp-unique, so this can only
# match processes this daemon started.
td__own_pids() {
    local p cmd
    for p in /proc/[0-9]*; do
        [[ ${p#/proc/} == "$$" || ${p#/proc/} == "$BASHPID" ]] && continue
        cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
        [[ $cmd == *"$TD_DIR/"* ]] && echo "${p#/proc/}"
    done
    return 0
}

# Mount points at or under DIR, deepest first. mountinfo escapes space, tab,
# newline and backslash as octal (\040 …); printf %b decodes them.
td__mounts_under() {
    local dir=$1
    awk '{print $5}' /proc/self/mountinfo | while read -r mp; do
        mp=$(printf '%b' "$mp")
        [[ $mp == "$dir" || $mp == "$dir"/* ]] && printf '%s\t%s\n' "${#mp}" "$mp"
    done | sort -rn | cut -f2-
}

td_stop() {
    [[ -n $TD_DIR ]] || return 0
    if [[ ${1:-} == --keep ]]; then
        echo "throwaway-daemon: kept running: DOCKER_HOST=$TD_HOST (reaper pid $TD_PID, state in $TD_DIR)" >&2
        echo "  to stop it: kill $TD_PID; then umount -l what is mounted under $TD_DIR; rm -rf $TD_DIR" >&2
        TD_DIR=''
        return 0
    fi
    local keep_dir=0
    [[ ${1:-} == --keep-dir ]] && keep_dir=1
    local i p
    if [[ -n $TD_PID ]] && td__alive "$TD_PID"; then
        # tini forwards SIGTERM to dockerd, which stops containerd and exits.
        kill -TERM "$TD_PID" 2>/dev/null || true
        for (( i = 0; i < 200; i++ )); do
            td__alive "$TD_PID" || break
            sleep 0.1
        done
        if td__alive "$TD_PID"; then
            echo "throwaway-daemon: dockerd ignored SIGTERM for 20 s; killing it" >&2
            for p in $(td__own_pids); do kill -KILL "$p" 2>/dev/null || true; done
            kill -KILL "$TD_PID" 2>/dev/null || true
        fi
    fi
    [[ -n $TD_PID ]] && { wait "$TD_PID" 2>/dev/null || true; }
    # Anything still naming our directory (a shim orphaned by a SIGKILL).
    for p in $(td__own_pids); do kill -KILL "$p" 2>/dev/null || true; done

    local mp
    while IFS= read -r mp; do
        if [[ -n $mp ]]; then umount -l "$mp" 2>/dev/null || true; fi
    done < <(td__mounts_under "$TD_DIR")
    if (( keep_dir )); then
        echo "throwaway-daemon: stopped; its state is kept in $TD_DIR (remove it with rm -rf --one-file-system $TD_DIR)" >&2
        TD_DIR='' TD_PID=''
        return 0
    fi
    # --one-file-system: if a mount survived, skip it rather than deleting
    # whatever filesystem it exposes.
    rm -rf --one-file-system "$TD_DIR" 2>/dev/null || \
        echo "throwaway-daemon: could not fully remove $TD_DIR" >&2
    TD_DIR='' TD_PID=''
}

# Picks the engine of the matrix to start, from the layout setup-test-host
# provisions: $TD_ENGINES/<name>/bin holds dockerd, containerd,
# containerd-shim-runc-v2, docker-proxy, docker-init and runc. 20.10 is the
# system's own docker.io (bookworm) unless the layout has it too;
# 28.5-containerd is 28.5 with the containerd image store (its own directory
# if the layout has one, else 28.5's binaries). The client for a newer engine
# is the newer docker CLI when there is one (/usr/local/bin/docker), so
# `docker system df` speaks the engine's API version; TD_DOCKER overrides it.
td_engine() {
    local name=$1 dir
    case $name in
        20.10|26.1|28.5|28.5-containerd) ;;
        *) echo "throwaway-daemon: unknown engine '$name'; use 20.10, 26.1, 28.5 or 28.5-containerd" >&2
           return 2 ;;
    esac
    TD_ENGINE=$name
    TD_DAEMON_JSON='{}'
    [[ $name == *-containerd ]] && TD_DAEMON_JSON='{"features":{"containerd-snapshotter":true}}'
    dir=$TD_ENGINES/$name
    [[ -d $dir/bin || $name != 28.5-containerd ]] || dir=$TD_ENGINES/28.5
    if [[ $name == 20.10 && ! -d $dir/bin ]]; then
        return 0
    fi
    if [[ ! -x $dir/bin/dockerd ]]; then
        echo "throwaway-daemon: engine $name is not provisioned: $dir/bin/dockerd is missing (scripts/setup-test-host provisions the matrix)" >&2
        return 1
    fi
    TD_DOCKERD=$dir/bin/dockerd
    TD_PATH=$dir/bin:$PATH
    if [[ $name != 20.10 && -z $TD_DOCKER_GIVEN && -x /usr/local/bin/docker ]]; then
        TD_DOCKER=/usr/local/bin/docker
    fi
}
