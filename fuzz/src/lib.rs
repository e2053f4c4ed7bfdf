//! Helpers shared by the fuzz targets.

/// Cuts `data` the way a socket might, by `seed`: whole (0), one byte at a
/// time (1), at every CR so CRLF is split (2), or pseudo-random sizes.
pub fn cut(data: &[u8], seed: u8) -> Vec<&[u8]> {
    match seed {
        0 => vec![data],
        1 => data.chunks(1).collect(),
        2 => {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, &b) in data.iter().enumerate() {
                if b == b'\r' {
                    out.push(&data[start..=i]);
                    start = i + 1;
                }
            }
            out.push(&data[start..]);
            out
        }
        _ => {
            let max = usize::from(seed % 61) + 2;
            let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
            let mut out = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let n = (x as usize % max + 1).min(rest.len());
                out.push(&rest[..n]);
                rest = &rest[n..];
            }
            out
        }
    }
}

/// Whether `needle` occurs in `haystack` (an empty needle never does).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether every CR in `bytes` is followed by LF and every LF preceded by CR.
pub fn only_crlf(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && bytes[i - 1] == b'\r',
        _ => true,
    })
}

/// Every line ending (CRLF, bare CR, bare LF) made CRLF, and a last line
/// without one given one: what the DATA encoder must produce before `.`.
pub fn normalise(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 2);
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A scratch file for targets that must go through a path, named `stem`
/// plus this process's id (so parallel fuzzers do not share it), in
/// `/dev/shm` where there is one (no disk writes per execution).
pub fn scratch(stem: &str) -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("missive-fuzz-{}-{stem}", std::process::id()))
}
