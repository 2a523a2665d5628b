//! Sizes: the one parser of byte counts a user writes (`--keep-storage`, `gc.keep_storage`).

/// Parses a size: `0`, `512MB`, `10G`, `1.5GiB`, `1000` (bytes). K, M, G, T are binary
/// (1024), with or without `B` or `iB`, as docker's own `--keep-storage` reads them.
pub fn parse_size(what: &str, s: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("{what} {s:?} is not a size: {why}; use e.g. 0, 512MB or 10GB");
    let (n, unit) = super::number_and_unit(s).map_err(bad)?;
    let u = unit.to_ascii_lowercase();
    let u = u
        .strip_suffix("ib")
        .or_else(|| u.strip_suffix('b'))
        .unwrap_or(&u);
    let mult: f64 = match u {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        _ => {
            return Err(bad(&format!("{unit:?} is not a unit (B, KB, MB, GB, TB)")));
        }
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(bad("it is out of range"));
    }
    Ok(v.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_reads_them() {
        let cases = [
            ("0", 0),
            ("1000", 1000),
            ("1k", 1024),
            ("512MB", 512 << 20),
            ("10G", 10 << 30),
            ("1.5GiB", 3 << 29),
            ("2 TB", 2 << 40),
        ];
        for (s, want) in cases {
            assert_eq!(parse_size("--keep-storage", s), Ok(want), "{s}");
        }
        for bad in ["", "lots", "5 parsecs", "-3GB"] {
            let e = parse_size("--keep-storage", bad).expect_err(bad);
            assert!(e.contains("10GB"), "{e}");
        }
    }
}
