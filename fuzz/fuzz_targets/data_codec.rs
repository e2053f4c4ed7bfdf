//! The DATA body encoder and decoder.
//!
//! Invariants: no panic; the encoder's output has no bare CR or LF, no
//! early end of data, and ends in CRLF `.` CRLF; whatever the chunking,
//! decode(encode(x)) == normalise(x) and the decoder stops exactly at the
//! terminator; the BDAT form is normalise(x) itself; the decoder fed
//! arbitrary bytes gives the same result in any chunking, and what it
//! accepts has only CRLF line ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use missive_smtp::data::{DataDecoder, DataEncoder};
use missive_smtp_fuzz::{cut, normalise, only_crlf};

const MAX: usize = 1 << 20;

fn decode(chunks: &[&[u8]]) -> (usize, bool, Result<Vec<u8>, String>) {
    let mut d = DataDecoder::new(MAX);
    let mut used = 0;
    let mut body = Vec::new();
    for c in chunks {
        if d.is_done() {
            break;
        }
        used += d.feed(c);
        body.extend(d.take_decoded());
    }
    let done = d.is_done();
    let result = d.into_result().map_err(|e| e.to_string());
    body.extend(result.as_deref().unwrap_or(&[]));
    (used, done, result.map(|_| body))
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let chunks = cut(input, seed);

    // encode, in the given chunking
    let mut enc = DataEncoder::new();
    let mut wire = Vec::new();
    for c in &chunks {
        enc.encode(c, &mut wire);
    }
    let stats = enc.finish(&mut wire);
    assert!(only_crlf(&wire), "bare CR or LF on the wire");
    assert!(wire.ends_with(b".\r\n"));
    let ends: Vec<usize> = wire
        .windows(5)
        .enumerate()
        .filter(|(_, w)| w == b"\r\n.\r\n")
        .map(|(i, _)| i)
        .collect();
    if wire == b".\r\n" {
        assert!(input.is_empty());
    } else {
        assert_eq!(ends, [wire.len() - 5], "an early end of data");
        assert!(!wire.starts_with(b".\r\n"), "an end of data at the start");
    }
    assert_eq!(stats.octets as usize, wire.len() - 3);

    // decode what was encoded, in a different chunking
    let expected = normalise(input);
    let mut followed = wire.clone();
    followed.extend_from_slice(b"QUIT\r\n");
    let (used, done, body) = decode(&cut(&followed, seed.wrapping_add(1)));
    assert!(done);
    assert_eq!(used, wire.len(), "the decoder read past the terminator");
    assert_eq!(body.as_deref(), Ok(&expected[..]), "round trip");

    // BDAT: normalised, not stuffed
    let mut enc = DataEncoder::for_bdat();
    let mut bdat = Vec::new();
    for c in &chunks {
        enc.encode(c, &mut bdat);
    }
    enc.finish_chunked(&mut bdat);
    assert_eq!(bdat, expected);

    // the decoder on arbitrary bytes
    let a = decode(&[input]);
    let b = decode(&chunks);
    assert_eq!(a, b, "the decoder depends on the chunking");
    if let (_, true, Ok(body)) = &a {
        assert!(only_crlf(body), "accepted a bare CR or LF");
    }
});
