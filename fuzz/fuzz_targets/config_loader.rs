//! The configuration loader (`Config::load` on a file, then account
//! selection), fed TOML text.
//!
//! Invariants: no panic; no error (its text or its Debug form) shows a
//! secret: the value of a `password` or `client_secret` key. Seeds write
//! secrets with the marker `SECRET` (checked when the marker is nowhere
//! else in the input); numeric secrets of 7 digits or more are checked too.
#![no_main]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use missive::fuzzing::Config;
use missive_smtp_fuzz::contains;

const MARKER: &str = "SECRET";

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| missive_smtp_fuzz::scratch("config.toml"))
}

/// The byte ranges of the values given to a secret key (`password = …`,
/// `client_secret = …`, bare, dotted or in an inline table).
fn secret_values(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for key in [&b"password"[..], b"client_secret"] {
        let mut from = 0;
        while let Some(at) = text[from..].windows(key.len()).position(|w| w == key) {
            let mut i = from + at + key.len();
            from = i;
            // a quoted key: `"password" = …`
            if text.get(i) == Some(&b'"') || text.get(i) == Some(&b'\'') {
                i += 1;
            }
            while matches!(text.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
            if text.get(i) != Some(&b'=') {
                continue;
            }
            i += 1;
            while matches!(text.get(i), Some(b' ' | b'\t')) {
                i += 1;
            }
            let start = i;
            let end = match text.get(i) {
                Some(&q @ (b'"' | b'\'')) if text[i..].starts_with(&[q, q, q]) => {
                    let close = [q, q, q];
                    text[i + 3..]
                        .windows(3)
                        .position(|w| w == close)
                        .map_or(text.len(), |p| i + 3 + p + 3)
                }
                Some(&q @ (b'"' | b'\'')) => {
                    let mut j = i + 1;
                    while j < text.len() && text[j] != q && text[j] != b'\n' {
                        j += if q == b'"' && text[j] == b'\\' { 2 } else { 1 };
                    }
                    (j + 1).min(text.len())
                }
                _ => text[i..]
                    .iter()
                    .position(|b| b" \t\r\n,}]#".contains(b))
                    .map_or(text.len(), |p| i + p),
            };
            out.push((start, end));
        }
    }
    out
}

/// Whether every occurrence of `needle` in `text` lies inside one of `ranges`.
fn only_inside(text: &[u8], needle: &[u8], ranges: &[(usize, usize)]) -> bool {
    text.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .all(|(i, _)| ranges.iter().any(|&(s, e)| s <= i && i + needle.len() <= e))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let p = path();
    std::fs::write(p, text).unwrap();
    // Mostly private, as a file with a password must be; sometimes not.
    let perm = [0o600, 0o600, 0o644, 0o664][usize::from(mode & 3)];
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(perm)).unwrap();

    let mut errors = Vec::new();
    match Config::load(Some(p)) {
        Ok(config) => {
            let names = [None, Some("work"), Some("default")];
            let froms = [
                None,
                Some("alice@contoso.com"),
                Some("Bob <bob@example.test>"),
            ];
            for (i, name) in names.iter().enumerate() {
                if let Err(e) = config.select(*name, froms[(i + usize::from(mode >> 2)) % 3]) {
                    errors.push(e);
                }
            }
        }
        Err(e) => errors.push(e),
    }

    let ranges = secret_values(text);
    let mut secrets: Vec<&[u8]> = Vec::new();
    if only_inside(text, MARKER.as_bytes(), &ranges) {
        secrets.push(MARKER.as_bytes());
    }
    for &(s, e) in &ranges {
        let v = &text[s..e];
        if v.len() >= 7 && v.iter().all(u8::is_ascii_digit) && only_inside(text, v, &ranges) {
            secrets.push(v);
        }
    }
    for e in &errors {
        let shown = format!("{e}\n{e:?}");
        for s in &secrets {
            assert!(
                !contains(shown.as_bytes(), s),
                "{:?} shown in {shown}",
                String::from_utf8_lossy(s)
            );
        }
    }
});
