# dockhand gc --apply on every Nomad client, once a day. See docs/deploy.md (and docs/gc.md for
# the policy: try `dockhand gc` without --apply first); dockhand-doctor.nomad.hcl beside it
# schedules doctor.
#
#   nomad job run contrib/deploy/nomad/dockhand-gc.nomad.hcl
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

job "dockhand-gc" {
  type = "sysbatch"

  periodic {
    crons            = ["17 3 * * *"]
    prohibit_overlap = true
  }

  group "gc" {
    restart {
      attempts = 0
      mode     = "fail"
    }
    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "gc" {
      driver = "docker"

      config {
        image = "dockhand:latest"
        args  = ["gc", "--apply"]

        pid_mode     = "host"
        network_mode = "host"
        cap_drop = ["all"]
        cap_add  = ["sys_ptrace", "dac_read_search"]
        readonly_rootfs = true

        # gc removes through the API only; the data root stays read-only.
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
            propagation = "rslave"
          }
        }
        # The journal, run lock and last-use state live on the host (create the directory,
        # mode 0700): the run lock then also holds off any other acting dockhand run on the
        # host, and `dockhand journal` there shows these runs.
        mount {
          type   = "bind"
          source = "/var/lib/dockhand"
          target = "/var/lib/dockhand"
        }
      }

      # On a stop, SIGTERM lets gc finish the removal in flight and write the journal;
      # kill_timeout bounds that.
      kill_signal  = "SIGTERM"
      kill_timeout = "2m"

      resources {
        cpu    = 100
        memory = 256
      }
    }
  }
}
