//! The kernel's own view of the host, for doctor's `host` area: pressure stall information
//! (`/proc/pressure`), the OOM and swap counters (`/proc/vmstat`), the time since boot
//! (`/proc/uptime`), the kernel log (`/dev/kmsg`), the NTP state (`adjtimex`), and memory and
//! swap through sysinfo. Each reader is synchronous and bounded (the kernel log by bytes and by
//! time); callers run them through [`super::blocking`] under a deadline like every other read.
//! The parsers are plain functions next to their readers, unit-tested on the kernel's text.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Where the kernel shows pressure stall information, one file per resource.
pub const PRESSURE_DIR: &str = "/proc/pressure";
/// The kernel log, one record per read.
pub const KMSG: &str = "/dev/kmsg";

/// One line of a PSI file: the share of wall time (percent) some or all tasks were stalled,
/// averaged over 10 s, 60 s and 300 s, and the total stall time in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    pub total_us: u64,
}

/// A resource's PSI: `some` (at least one task stalled) and `full` (all non-idle tasks stalled;
/// the host-wide cpu file has it only since Linux 5.13, and it is always zero there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Psi {
    pub some: Option<PsiLine>,
    pub full: Option<PsiLine>,
}

/// Parses `/proc/pressure/<resource>`:
/// `some avg10=0.00 avg60=1.33 avg300=0.80 total=106222633` (and a `full` line). Lines or
/// fields it does not know are skipped; a line without its three averages is left out.
pub fn parse_psi(text: &str) -> Psi {
    let mut psi = Psi::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let kind = words.next();
        let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, 0);
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                continue;
            };
            match k {
                "avg10" => avg10 = v.parse::<f64>().ok(),
                "avg60" => avg60 = v.parse::<f64>().ok(),
                "avg300" => avg300 = v.parse::<f64>().ok(),
                "total" => total = v.parse::<u64>().unwrap_or(0),
                _ => {}
            }
        }
        let (Some(avg10), Some(avg60), Some(avg300)) = (avg10, avg60, avg300) else {
            continue;
        };
        let l = PsiLine {
            avg10,
            avg60,
            avg300,
            total_us: total,
        };
        match kind {
            Some("some") => psi.some = Some(l),
            Some("full") => psi.full = Some(l),
            _ => {}
        }
    }
    psi
}

/// What reading a resource's PSI gave.
#[derive(Debug, Clone, PartialEq)]
pub enum PsiRead {
    Read(Psi),
    /// The kernel has no PSI: built without it (no `/proc/pressure`), or booted with `psi=0`
    /// (the files are there and answer EOPNOTSUPP).
    Absent,
    /// Another error, in words.
    Failed(String),
}

/// `/proc/pressure/<resource>` (`memory`, `io`, `cpu`).
pub fn pressure(resource: &str) -> PsiRead {
    let path = format!("{PRESSURE_DIR}/{resource}");
    match std::fs::read_to_string(&path) {
        Ok(t) => PsiRead::Read(parse_psi(&t)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::EOPNOTSUPP) =>
        {
            PsiRead::Absent
        }
        Err(e) => PsiRead::Failed(format!("{path}: {e}")),
    }
}

/// The counters of `/proc/vmstat` doctor reads: all since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct VmStat {
    /// Processes the OOM killer killed (Linux ≥ 4.13), host-wide: it cannot say which.
    pub oom_kill: Option<u64>,
    /// Pages swapped in and out.
    pub pswpin: Option<u64>,
    pub pswpout: Option<u64>,
}

/// Parses `/proc/vmstat`: `name value` per line.
pub fn parse_vmstat(text: &str) -> VmStat {
    let mut v = VmStat::default();
    for line in text.lines() {
        let Some((k, n)) = line.split_once(' ') else {
            continue;
        };
        let n = n.trim().parse::<u64>().ok();
        match k {
            "oom_kill" => v.oom_kill = n,
            "pswpin" => v.pswpin = n,
            "pswpout" => v.pswpout = n,
            _ => {}
        }
    }
    v
}

/// `/proc/vmstat`'s counters.
pub fn vmstat() -> io::Result<VmStat> {
    Ok(parse_vmstat(&std::fs::read_to_string("/proc/vmstat")?))
}

/// Seconds since boot, suspend included (`/proc/uptime`: the kernel's CLOCK_BOOTTIME), which no
/// one can set: what the wall clock is measured against.
pub fn boottime_s() -> Option<f64> {
    std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second: the unit of a process's start time in its stat line.
pub fn ticks_per_second() -> u64 {
    procfs::ticks_per_second()
}

/// Memory and swap as sysinfo reads them (`/proc/meminfo`), in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
    pub swap_total: u64,
    pub swap_used: u64,
}

/// The host's memory and swap; `None` when sysinfo cannot set itself up. sysinfo refreshes only
/// the memory figures here.
pub fn memory() -> Option<Memory> {
    let mut s = sysinfo::System::new().ok()?;
    s.refresh_memory();
    Some(Memory {
        total: s.total_memory(),
        available: s.available_memory(),
        swap_total: s.total_swap(),
        swap_used: s.used_swap(),
    })
}

/// The kernel's NTP state (`adjtimex` with no change asked: a read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NtpState {
    /// `STA_UNSYNC` is clear: something (an NTP daemon, chrony, timesyncd) disciplines the clock.
    pub synchronized: bool,
    /// The kernel's estimate of the clock's error, in microseconds.
    pub est_error_us: i64,
    pub max_error_us: i64,
}

/// The NTP state, or `None` when `adjtimex` fails.
pub fn ntp_state() -> Option<NtpState> {
    // SAFETY: `timex` is plain old data for which all zeroes is valid; with `modes` 0 the
    // kernel only fills it in (a read that needs no privilege), and the pointer is to a value
    // on this stack that outlives the call.
    let mut t: nix::libc::timex = unsafe { std::mem::zeroed() };
    let r = unsafe { nix::libc::adjtimex(&mut t) };
    if r < 0 {
        return None;
    }
    Some(NtpState {
        synchronized: r != nix::libc::TIME_ERROR && t.status & nix::libc::STA_UNSYNC == 0,
        est_error_us: t.esterror,
        max_error_us: t.maxerror,
    })
}

/// One record of the kernel log: `prio,seq,usec,flags;message` (continuation lines, the
/// `KEY=value` dictionary, are dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KmsgRecord {
    pub seq: u64,
    /// Microseconds since boot when it was logged.
    pub usec: u64,
    pub message: String,
}

/// Parses one record as `/dev/kmsg` gives it per read.
pub fn parse_kmsg_record(rec: &str) -> Option<KmsgRecord> {
    let (head, rest) = rec.split_once(';')?;
    let mut f = head.split(',');
    let _prio = f.next()?;
    let seq = f.next()?.parse().ok()?;
    let usec = f.next()?.parse().ok()?;
    let message = rest.split('\n').next().unwrap_or_default().to_string();
    Some(KmsgRecord { seq, usec, message })
}

/// What a bounded read of the kernel log gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KmsgScan {
    /// The records `keep` kept.
    pub kept: Vec<KmsgRecord>,
    /// Records read in all.
    pub records: u64,
    pub bytes: u64,
    /// Records overwritten while reading (the kernel's ring moved on under the reader).
    pub lost: u64,
    /// The whole buffer was read: false when the byte or time bound stopped the reader.
    pub complete: bool,
}

/// Why the kernel log could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsgError {
    /// Not permitted (`kernel.dmesg_restrict`, no CAP_SYSLOG, a container without it).
    NotPermitted(String),
    /// No /dev/kmsg on this host (a container without /dev/kmsg, an old kernel).
    Absent,
    Failed(String),
}

/// Reads the kernel log from its first record, without blocking, keeping the records `keep`
/// wants. Stops at the end of the buffer, after `max_bytes`, or after `budget`, whichever
/// comes first (saying which in `complete`). A read never waits for a new record: the file is
/// opened non-blocking, and its end answers EAGAIN.
pub fn read_kmsg(
    keep: impl Fn(&KmsgRecord) -> bool,
    max_bytes: u64,
    budget: Duration,
) -> Result<KmsgScan, KmsgError> {
    let mut f = File::options()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(KMSG)
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => KmsgError::NotPermitted(e.to_string()),
            io::ErrorKind::NotFound => KmsgError::Absent,
            _ => KmsgError::Failed(e.to_string()),
        })?;
    // The first record still in the ring, whatever `dmesg -c` cleared.
    f.seek(SeekFrom::Start(0))
        .map_err(|e| KmsgError::Failed(e.to_string()))?;
    let start = Instant::now();
    let mut scan = KmsgScan::default();
    // One record per read; the kernel refuses (EINVAL) a buffer smaller than the record, and
    // a record is at most about 8 KiB (LOG_LINE_MAX plus its prefix).
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if scan.bytes >= max_bytes || start.elapsed() >= budget {
            return Ok(scan);
        }
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                scan.records += 1;
                scan.bytes += n as u64;
                if let Some(r) = parse_kmsg_record(&String::from_utf8_lossy(&buf[..n]))
                    && keep(&r)
                {
                    scan.kept.push(r);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // EPIPE: records were overwritten since the last read; the next read goes on.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => scan.lost += 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(KmsgError::NotPermitted(e.to_string()));
            }
            Err(e) => return Err(KmsgError::Failed(e.to_string())),
        }
    }
    scan.complete = true;
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_lines() {
        let text = "some avg10=0.00 avg60=1.33 avg300=0.80 total=106222633\n\
                    full avg10=0.10 avg60=0.88 avg300=0.53 total=23088404\n";
        let p = parse_psi(text);
        assert_eq!(
            p.some,
            Some(PsiLine {
                avg10: 0.0,
                avg60: 1.33,
                avg300: 0.8,
                total_us: 106_222_633
            })
        );
        assert_eq!(p.full.map(|l| l.avg60), Some(0.88));
        // cpu before 5.13: no full line; junk and a cut line are skipped.
        let p = parse_psi("some avg10=5.00 avg60=4.00 avg300=3.00 total=1\nfull avg10=1\nx\n");
        assert_eq!(p.some.map(|l| l.avg300), Some(3.0));
        assert_eq!(p.full, None);
        assert_eq!(parse_psi(""), Psi::default());
    }

    #[test]
    fn vmstat_counters() {
        let v = parse_vmstat("nr_free_pages 1\npswpin 12\npswpout 40\noom_kill 3\nbad\n");
        assert_eq!(
            v,
            VmStat {
                oom_kill: Some(3),
                pswpin: Some(12),
                pswpout: Some(40)
            }
        );
        // Before 4.13 there is no oom_kill line.
        assert_eq!(parse_vmstat("pswpin 0\n").oom_kill, None);
    }

    #[test]
    fn kmsg_records() {
        let r = parse_kmsg_record(
            "3,1024,5140900,-;INFO: task dockerd:812 blocked for more than 120 seconds.\n SUBSYSTEM=x\n",
        )
        .expect("a record");
        assert_eq!(r.seq, 1024);
        assert_eq!(r.usec, 5_140_900);
        assert_eq!(
            r.message,
            "INFO: task dockerd:812 blocked for more than 120 seconds."
        );
        // A message may hold ';' and ','.
        let r = parse_kmsg_record("6,1,2,c;a;b,c").expect("a record");
        assert_eq!(r.message, "a;b,c");
        assert_eq!(parse_kmsg_record("no prefix"), None);
        assert_eq!(parse_kmsg_record("6,x,2,-;m"), None);
    }

    #[test]
    fn the_real_kernel_log_is_read_within_its_bounds_or_refused() {
        // Whatever this host permits: a read that returns, within its budget (and a margin).
        let t = Instant::now();
        match read_kmsg(|_| false, 64 * 1024, Duration::from_millis(500)) {
            Ok(s) => {
                assert!(s.bytes <= 64 * 1024 + 16 * 1024, "{s:?}");
                assert!(s.kept.is_empty());
            }
            Err(e) => eprintln!("kernel log not readable here: {e:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn the_real_pressure_files_parse_or_are_absent() {
        for r in ["memory", "io", "cpu"] {
            match pressure(r) {
                PsiRead::Read(p) => assert!(p.some.is_some(), "{r}: {p:?}"),
                PsiRead::Absent => {}
                PsiRead::Failed(e) => panic!("{r}: {e}"),
            }
        }
        assert!(boottime_s().is_some_and(|s| s > 0.0));
    }
}
