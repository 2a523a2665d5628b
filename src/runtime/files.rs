//! Files dockhand writes itself: the Prometheus textfile, the gc state file, saved plans. Each
//! is replaced whole, never left half-written.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Writes `render`'s output to `path` atomically: a temporary file in the same directory with
/// permission bits `mode`, flushed to disk, then renamed over `path`. On any error the temporary
/// file is removed and `path` is left as it was. A reader sees the old file or the new one,
/// never a mix; a crash leaves at most a `.NAME.PID.tmp` beside it.
pub fn write_atomically(
    path: &Path,
    mode: u32,
    render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "names no file"))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        {
            let mut w = io::BufWriter::new(&mut f);
            render(&mut w)?;
            w.flush()?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself is durable only once the directory is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_or_leaves_untouched() {
        let d = std::env::temp_dir().join(format!("dockhand-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("mkdir");
        let p = d.join("dockhand.prom");
        std::fs::write(&p, "old\n").expect("write");
        write_atomically(&p, 0o600, |w| writeln!(w, "new")).expect("writes");
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "new\n");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let failed = write_atomically(&p, 0o644, |w| {
            writeln!(w, "half")?;
            Err(io::Error::other("render failed"))
        });
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read_to_string(&p).expect("read"),
            "new\n",
            "left as it was"
        );
        let leftovers = std::fs::read_dir(&d).expect("ls").count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(d);
    }
}
