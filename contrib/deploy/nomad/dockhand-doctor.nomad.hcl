# dockhand doctor on every Nomad client, every minute, writing node_exporter's textfile on each
# client. See docs/deploy.md; dockhand-gc.nomad.hcl beside it schedules gc.
#
#   nomad job run contrib/deploy/nomad/dockhand-doctor.nomad.hcl
#
# A "sysbatch" job is the system scheduler for work that ends: it runs one allocation on every
# eligible client, and `periodic` repeats it. (A "system" job is for services; a task that exits
# there is restarted as if it had failed.) dockhand's image is FROM scratch: build it with
# scripts/build-image and push it where your clients pull from.
#
# The clients' docker driver must allow what the tasks ask for, in the client config:
#
#   plugin "docker" {
#     config {
#       allow_caps = ["audit_write", "chown", "dac_override", "fowner", "fsetid", "kill",
#                     "mknod", "net_bind_service", "setfcap", "setgid", "setpcap", "setuid",
#                     "sys_chroot", "sys_ptrace", "dac_read_search"]
#       allow_privileged = true
#       volumes { enabled = true }
#     }
#   }
#
# (the default allow_caps plus sys_ptrace and dac_read_search; allow_privileged because the
# driver gates pid_mode = "host" behind it — the task itself is not privileged; `volumes` for
# the host paths).

job "dockhand-doctor" {
  type = "sysbatch"

  periodic {
    crons            = ["* * * * *"]
    prohibit_overlap = true
  }

  group "doctor" {
    # doctor exits 1-3 when it finds problems: that is its report, not a reason to retry.
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "doctor" {
      driver = "docker"

      config {
        image = "dockhand:latest"
        # host.hung-tasks reads the kernel log: a task would need /dev/kmsg as a device and
        # CAP_SYSLOG (both beyond the clients' default allow list); it is skipped rather than
        # left "unknown" on every run. The systemd units (contrib/systemd/) read it.
        args  = ["doctor", "--format", "prometheus", "--textfile", "/textfile/dockhand.prom",
                 "--skip", "host.hung-tasks"]

        # The host's pid and network namespaces: dockerd, its shims and proxies, zombies, and who
        # holds a port are found in /proc and the host's socket tables.
        pid_mode     = "host"
        network_mode = "host"
        # SYS_PTRACE: /proc/<pid>/fd of dockerd; DAC_READ_SEARCH: the data root's directories.
        cap_drop = ["all"]
        cap_add  = ["sys_ptrace", "dac_read_search"]
        readonly_rootfs = true

        # The socket, the data root and daemon.json at their host paths, read-only (the engine
        # reports its data root's host path; connecting to a socket needs no write access).
        mount {
          type     = "bind"
          source   = "/var/run/docker.sock"
          target   = "/var/run/docker.sock"
          readonly = true
        }
        mount {
          type     = "bind"
          source   = "/var/lib/docker"
          target   = "/var/lib/docker"
          readonly = true
          bind_options {
            # Unmounts on the host reach the task, so it never pins a container's mounts.
            propagation = "rslave"
          }
        }
        mount {
          type     = "bind"
          source   = "/etc/docker"
          target   = "/etc/docker"
          readonly = true
        }
        mount {
          type   = "bind"
          source = "/var/lib/node_exporter/textfile_collector"
          target = "/textfile"
        }
      }

      resources {
        cpu    = 50
        memory = 128
      }
    }
  }
}
