//! Puts the versions of rustls and ring, as Cargo.lock pins them, into
//! `--version` (MISSIVE_RUSTLS_VERSION, MISSIVE_RING_VERSION).

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    for (name, var) in [
        ("rustls", "MISSIVE_RUSTLS_VERSION"),
        ("ring", "MISSIVE_RING_VERSION"),
    ] {
        println!("cargo:rustc-env={var}={}", locked_version(&text, name));
    }
}

/// The version of the package `name` in a Cargo.lock (the newest, if several).
fn locked_version(lock: &str, name: &str) -> String {
    let wanted = format!("name = \"{name}\"");
    let mut found: Vec<String> = Vec::new();
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                found.push(v.trim_matches('"').to_string());
            }
        }
    }
    found.sort_by_key(|v| {
        v.split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    found.pop().unwrap_or_else(|| "unknown".into())
}
