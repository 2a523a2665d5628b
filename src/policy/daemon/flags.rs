//! dockerd's command line, read as dockerd reads it: every spelling of a flag (`--name v`,
//! `--name=v`, `-n v`, `-nv`, `-n=v`), up to `--`.

/// Short flags of dockerd and their long names.
const SHORT_FLAGS: &[(char, &str)] = &[
    ('D', "debug"),
    ('G', "group"),
    ('H', "host"),
    ('b', "bridge"),
    ('g', "graph"),
    ('l', "log-level"),
    ('p', "pidfile"),
    ('s', "storage-driver"),
];

/// The long names of the flags on a dockerd command line (first element is the program).
pub fn flag_names(cmdline: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in cmdline.iter().skip(1) {
        if a == "--" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(n, _)| n);
            if !name.is_empty() {
                out.push(name.to_string());
            }
        } else if let Some(short) = a.strip_prefix('-')
            && let Some(c) = short.chars().next()
            && let Some((_, long)) = SHORT_FLAGS.iter().find(|(s, _)| *s == c)
        {
            out.push((*long).to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every value of a flag on a command line: `--name v`, `--name=v`.
pub fn flag_values(cmdline: &[String], long: &str, short: Option<char>) -> Vec<String> {
    let mut out = Vec::new();
    let long_eq = format!("--{long}=");
    let long_flag = format!("--{long}");
    let mut it = cmdline.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if *a == long_flag {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = a.strip_prefix(&long_eq) {
            out.push(v.to_string());
        } else if let Some(c) = short
            && let Some(rest) = a.strip_prefix('-').and_then(|r| r.strip_prefix(c))
            && !a.starts_with("--")
        {
            if rest.is_empty() {
                if let Some(v) = it.next() {
                    out.push(v.clone());
                }
            } else {
                out.push(rest.strip_prefix('=').unwrap_or(rest).to_string());
            }
        }
    }
    out
}

/// A bool flag's value on the command line, if given: `--name`, `--name=true|false`.
pub fn bool_flag(cmdline: &[String], name: &str) -> Option<bool> {
    let flag = format!("--{name}");
    let eq = format!("--{name}=");
    let mut v = None;
    for a in cmdline.iter().skip(1) {
        if a == "--" {
            break;
        }
        if *a == flag {
            v = Some(true);
        } else if let Some(x) = a.strip_prefix(&eq) {
            v = Some(matches!(x, "true" | "1" | "t" | "T" | "TRUE" | "True"));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn flag_spellings() {
        let a = args("dockerd -H a -Hb -H=c --host d --host=e --hostname x");
        assert_eq!(
            flag_values(&a, "host", Some('H')),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(
            flag_names(&args("dockerd -D -H x --data-root=/y --tls -- --other")),
            ["data-root", "debug", "host", "tls"]
        );
    }

    #[test]
    fn bool_flags() {
        let cases: &[(&str, Option<bool>)] = &[
            ("dockerd", None),
            ("dockerd --tls", Some(true)),
            ("dockerd --tls=false", Some(false)),
            ("dockerd --tls --tls=0", Some(false)),
            ("dockerd --tls=1", Some(true)),
            ("dockerd -- --tls", None),
            ("dockerd --tlsverify", None),
        ];
        for (cmd, want) in cases {
            assert_eq!(bool_flag(&args(cmd), "tls"), *want, "{cmd}");
        }
    }
}
