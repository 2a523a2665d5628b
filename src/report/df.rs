//! `dockhand df` as tables: the filesystem, a summary per kind, and with `-v` the objects.

use std::io::{self, Write};

use comfy_table::{CellAlignment, Table};

use super::Style;
use crate::facts::storage_map::DfReport;
use crate::facts::storage_map::account::percent;
use crate::runtime::host::now_secs;
use crate::util::{human_age, human_bytes, sanitize};

fn write_table(style: Style, mut t: Table, right: &[usize], out: &mut dyn Write) -> io::Result<()> {
    for i in right {
        if let Some(c) = t.column_mut(*i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    style.write_table(&t, out)
}

fn bytes_lb(n: u64, complete: bool) -> String {
    if complete {
        human_bytes(n)
    } else {
        format!("≥{}", human_bytes(n))
    }
}

fn with_pct(part: u64, whole: u64) -> String {
    format!("{} ({:.0} %)", human_bytes(part), percent(part, whole))
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

fn age(created: i64) -> String {
    if created <= 0 {
        return "-".into();
    }
    human_age(now_secs().saturating_sub(created as u64))
}

/// Writes one wrapped line of prose under the tables.
fn say(style: Style, out: &mut dyn Write, text: String) -> io::Result<()> {
    writeln!(out, "{}", style.wrap(&text, 2))
}

pub fn df(
    r: &DfReport,
    verbose: bool,
    top: Option<usize>,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_head(r, style, out)?;
    write_summary(r, style, out)?;
    write_summary_notes(r, style, out)?;
    if verbose {
        let take = top.unwrap_or(usize::MAX);
        write_images(r, take, style, out)?;
        write_containers(r, take, style, out)?;
        write_volumes(r, take, style, out)?;
        if r.daemon_files {
            write_leftovers(r, take, style, out)?;
        }
    }
    Ok(())
}

/// The first line: where the data root is, its driver and store, and its filesystem's fill.
fn write_head(r: &DfReport, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let mut head = format!(
        "Data root {} ({}",
        r.data_root.display(),
        if r.driver.is_empty() { "?" } else { &r.driver }
    );
    if r.image_store == "containerd" {
        head.push_str(", containerd image store");
    } else if r.image_store == "containers-storage" {
        head.push_str(", Podman's containers/storage");
    }
    head.push(')');
    if let Some(fs) = &r.filesystem {
        head.push_str(&format!(
            " on {} ({}): {} used of {} ({:.0} %), {} free",
            fs.mount_point
                .as_ref()
                .map_or_else(|| "?".into(), |m| m.display().to_string()),
            fs.fs_type.as_deref().unwrap_or("?"),
            human_bytes(fs.used_bytes),
            human_bytes(fs.total_bytes),
            fs.used_percent,
            human_bytes(fs.free_bytes)
        ));
        if fs.inodes_total > 0 {
            head.push_str(&format!("; inodes {:.0} % used", fs.inodes_used_percent));
        }
    }
    writeln!(out, "{}", style.wrap(&head, 2))?;
    writeln!(out)?;
    Ok(())
}

/// The summary table: one row per kind, logs and leftovers only when the daemon's files were read.
fn write_summary(r: &DfReport, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let (i, c, v, b, l) = (
        &r.images,
        &r.containers,
        &r.volumes,
        &r.build_cache,
        &r.leftovers,
    );
    let lb = !r.lower_bound;
    let mut t = style.table(&["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    t.add_row(vec![
        "Images".into(),
        i.count.to_string(),
        i.active.to_string(),
        human_bytes(i.total),
        with_pct(i.reclaimable, i.total),
    ]);
    t.add_row(vec![
        "Containers".into(),
        c.count.to_string(),
        c.active.to_string(),
        bytes_lb(c.rw_total, lb),
        with_pct(c.rw_reclaimable, c.rw_total),
    ]);
    if r.daemon_files {
        let logs = c
            .items
            .iter()
            .filter(|x| x.log.as_ref().is_some_and(|l| !l.files.is_empty()))
            .count();
        t.add_row(vec![
            "Container logs".into(),
            logs.to_string(),
            "-".into(),
            human_bytes(c.log_total),
            with_pct(c.log_reclaimable, c.log_total),
        ]);
    }
    t.add_row(vec![
        "Local volumes".into(),
        v.count.to_string(),
        v.active.to_string(),
        bytes_lb(v.total, lb),
        with_pct(v.reclaimable, v.total),
    ]);
    t.add_row(vec![
        "Build cache".into(),
        b.count.to_string(),
        b.active.to_string(),
        human_bytes(b.total),
        with_pct(b.reclaimable, b.total),
    ]);
    if r.daemon_files {
        let n = l.tmp.len()
            + usize::from(l.tmp_old.is_some())
            + l.leaked_layers.len()
            + l.deleted_open.len();
        t.add_row(vec![
            "Leftovers".into(),
            n.to_string(),
            "-".into(),
            human_bytes(l.total),
            with_pct(l.reclaimable, l.total),
        ]);
    }
    write_table(style, t, &[1, 2, 3, 4], out)?;
    writeln!(out)
}

/// The prose under the summary: sharing, unbounded logs, leftovers, lower bounds, notes.
fn write_summary_notes(r: &DfReport, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let (i, c, l) = (&r.images, &r.containers, &r.leftovers);
    say(
        style,
        out,
        format!(
            "Images share {} of their {} (each layer counted once); {} is unique to one image. {} dangling.",
            human_bytes(i.shared),
            human_bytes(i.total),
            human_bytes(i.unique),
            i.dangling
        ),
    )?;
    if c.unbounded_logs > 0 {
        say(
            style,
            out,
            format!(
                "{} of {} containers log with json-file and no max-size: their logs grow without bound.",
                c.unbounded_logs, c.count
            ),
        )?;
    }
    if !l.leaked_layers.is_empty() || l.tmp_old.is_some() || !l.deleted_open.is_empty() {
        say(
            style,
            out,
            format!(
                "Leftovers: {} leaked layer director{} ({}), {} tmp entr{}{}, {} deleted file{} still open ({}).",
                l.leaked_layers.len(),
                if l.leaked_layers.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                human_bytes(l.leaked_layers.iter().map(|x| x.bytes).sum()),
                l.tmp.len(),
                if l.tmp.len() == 1 { "y" } else { "ies" },
                if l.tmp_old.is_some() {
                    " and a lingering tmp-old"
                } else {
                    ""
                },
                l.deleted_open.len(),
                if l.deleted_open.len() == 1 { "" } else { "s" },
                human_bytes(l.deleted_open.iter().map(|x| x.bytes).sum()),
            ),
        )?;
    }
    if r.lower_bound && r.stuck.is_empty() {
        say(
            style,
            out,
            "Some walks ran out of time (--walk-timeout): sizes marked ≥ are lower bounds.".into(),
        )?;
    } else if r.lower_bound {
        say(
            style,
            out,
            "Sizes marked ≥ are lower bounds: a walk was cut short (see the notes).".into(),
        )?;
    }
    for n in &r.notes {
        say(style, out, format!("Note: {}", sanitize(n)))?;
    }
    Ok(())
}

/// With `-v`: the images, their sharing and age.
fn write_images(r: &DfReport, take: usize, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let i = &r.images;
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Images"))?;
    let mut t = style.table(&[
        "ID",
        "TAGS",
        "SIZE",
        "SHARED",
        "UNIQUE",
        "CONTAINERS",
        "CREATED",
    ]);
    for x in i.items.iter().take(take) {
        t.add_row(vec![
            short(&x.id),
            sanitize(&x.tags.join(", ")),
            human_bytes(x.size),
            human_bytes(x.shared),
            human_bytes(x.unique),
            x.containers.to_string(),
            format!("{} ago", age(x.created)),
        ]);
    }
    write_table(style, t, &[2, 3, 4, 5], out)?;
    Ok(())
}

/// With `-v`: the containers, their writable layer and log with its limit.
fn write_containers(
    r: &DfReport,
    take: usize,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    let c = &r.containers;
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Containers"))?;
    let mut t = style.table(&["ID", "NAME", "STATE", "WRITABLE", "LOG", "LOG LIMIT"]);
    for x in c.items.iter().take(take) {
        let (log, limit) = match &x.log {
            Some(l) if l.driver == "json-file" || l.driver == "local" => (
                human_bytes(l.bytes),
                match (&l.max_size, l.driver.as_str()) {
                    (Some(s), _) => s.clone(),
                    (None, "local") => "20m (local default)".into(),
                    (None, _) => "none: unbounded".into(),
                },
            ),
            // Podman's: its limit (log_size_max) is not in its API.
            Some(l) if l.driver == "k8s-file" => {
                (human_bytes(l.bytes), "not reported (k8s-file)".into())
            }
            Some(l) => ("-".into(), format!("{} driver", l.driver)),
            None => ("-".into(), "-".into()),
        };
        t.add_row(vec![
            short(&x.id),
            sanitize(&x.name),
            x.state.clone(),
            x.rw_bytes
                .map_or_else(|| "-".into(), |b| bytes_lb(b, x.rw_complete)),
            log,
            limit,
        ]);
    }
    write_table(style, t, &[3, 4], out)?;
    Ok(())
}

/// With `-v`: the volumes, named or anonymous, and their size.
fn write_volumes(r: &DfReport, take: usize, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let v = &r.volumes;
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Volumes"))?;
    let mut t = style.table(&["NAME", "KIND", "CONTAINERS", "SIZE"]);
    for x in v.items.iter().take(take) {
        t.add_row(vec![
            sanitize(&x.name),
            if x.anonymous {
                "anonymous".into()
            } else {
                "named".into()
            },
            x.containers.to_string(),
            x.size
                .map_or_else(|| "-".into(), |b| bytes_lb(b, x.complete)),
        ]);
    }
    write_table(style, t, &[2, 3], out)?;
    Ok(())
}

/// With `-v` on disk: every leftover, biggest first, or a line saying there are none.
fn write_leftovers(r: &DfReport, take: usize, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let l = &r.leftovers;
    writeln!(out)?;
    writeln!(out, "{}", style.bold("Leftovers"))?;
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for x in &l.leaked_layers {
        let what = if x.dir.removing {
            "unfinished removal"
        } else {
            "leaked layer"
        };
        rows.push((
            x.bytes,
            vec![
                what.into(),
                x.dir.path.display().to_string(),
                bytes_lb(x.bytes, x.complete),
                format!("{} old; nothing references it", human_age(x.dir.age_s)),
            ],
        ));
    }
    if let Some(x) = &l.tmp_old {
        rows.push((
            x.bytes,
            vec![
                "tmp-old".into(),
                x.path.display().to_string(),
                human_bytes(x.bytes),
                "start-up clean-up did not finish".into(),
            ],
        ));
    }
    for x in &l.tmp {
        let note = if x.open {
            "held open by a process"
        } else {
            "no process holds it"
        };
        rows.push((
            x.bytes,
            vec![
                "tmp".into(),
                x.path.display().to_string(),
                human_bytes(x.bytes),
                format!("{note}; {} old", human_age(x.age_s)),
            ],
        ));
    }
    for x in &l.deleted_open {
        rows.push((
            x.bytes,
            vec![
                "deleted, open".into(),
                sanitize(&x.path),
                human_bytes(x.bytes),
                format!("held by pid {} fd {}", x.pid, x.fd),
            ],
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    say(style, out, format!("leaked-layer scan: {}", l.leaked_scan))?;
    if rows.is_empty() {
        say(
            style,
            out,
            "none: no tmp entries, no leaked layer directories, no deleted files held open".into(),
        )?;
    } else {
        let mut t = style.table(&["KIND", "PATH", "SIZE", "NOTE"]);
        for (_, row) in rows.into_iter().take(take) {
            t.add_row(row);
        }
        write_table(style, t, &[2], out)?;
    }
    Ok(())
}
