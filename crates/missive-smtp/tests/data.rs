//! The DATA codec: encoder examples, decoder refusals and long lines, and
//! properties (chunking invariance, safe output, round trip).

use missive_smtp::data::{DataDecoder, DataEncoder, DataError, DataStats};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::util::*;

#[test]
fn data_encoder_examples() {
    fn enc(input: &[u8]) -> Vec<u8> {
        let mut e = DataEncoder::new();
        let mut out = Vec::new();
        e.encode(input, &mut out);
        e.finish(&mut out);
        out
    }
    assert_eq!(enc(b""), b".\r\n");
    assert_eq!(enc(b"."), b"..\r\n.\r\n");
    assert_eq!(enc(b"\r\n"), b"\r\n.\r\n");
    assert_eq!(enc(b"a\r\n.\r\nb"), b"a\r\n..\r\nb\r\n.\r\n");
    // SMTP smuggling shapes: <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>
    assert_eq!(enc(b"a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
    assert_eq!(enc(b"a\r.\rb"), b"a\r\n..\r\nb\r\n.\r\n");
    assert_eq!(enc(b"a\n.\r\nb"), b"a\r\n..\r\nb\r\n.\r\n");
}

#[test]
fn data_decoder_refusals() {
    let mut d = DataDecoder::new(1 << 20);
    d.feed(b"a\rb\r\n.\r\n");
    assert!(d.is_done());
    assert_eq!(d.into_result(), Err(DataError::BareCr));

    let mut d = DataDecoder::new(1 << 20);
    d.feed(b"a\r\n.\n.\r\n");
    assert!(d.is_done());
    assert_eq!(d.into_result(), Err(DataError::BareLf));

    // too big: keeps reading to the terminator, so the session stays in step
    let mut d = DataDecoder::new(3);
    let used = d.feed(b"abcdef\r\nxyz\r\n.\r\nQUIT\r\n");
    assert_eq!(used, b"abcdef\r\nxyz\r\n.\r\n".len());
    assert!(d.is_done());
    assert_eq!(d.into_result(), Err(DataError::TooBig));
}

#[test]
fn data_decoder_long_lines() {
    for n in [999, 1000, 1001, 1002, 2002, 3500] {
        let mut line = vec![b'.'];
        line.resize(n, b'y');
        let mut enc = DataEncoder::new();
        let mut wire = Vec::new();
        enc.encode(&line, &mut wire);
        enc.finish(&mut wire);
        let mut d = DataDecoder::new(1 << 20);
        assert_eq!(d.feed(&wire), wire.len());
        assert!(d.is_done(), "n = {n}");
        let mut expected = line.clone();
        expected.extend_from_slice(b"\r\n");
        assert_eq!(d.into_result().unwrap(), expected, "n = {n}");
    }
}

// ---- properties ----------------------------------------------------------------

/// Message bytes rich in the characters that matter (CR, LF, '.'), with the
/// occasional line longer than the decoder's 1000-octet line buffer.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        6 => prop::collection::vec(
            prop_oneof![
                3 => Just(b'.'),
                3 => Just(b'\r'),
                3 => Just(b'\n'),
                3 => Just(b'a'),
                1 => Just(b' '),
                2 => any::<u8>(),
            ],
            0..40,
        ),
        1 => (any::<bool>(), 990usize..2100).prop_map(|(dot, n)| {
            let mut v = if dot { vec![b'.'] } else { Vec::new() };
            v.resize(v.len() + n, b'x');
            v
        }),
    ];
    prop::collection::vec(segment, 0..12).prop_map(|s| s.concat())
}

fn encode(chunks: &[&[u8]]) -> (Vec<u8>, DataStats) {
    let mut e = DataEncoder::new();
    let mut out = Vec::new();
    for c in chunks {
        e.encode(c, &mut out);
    }
    let stats = e.finish(&mut out);
    (out, stats)
}

/// Every line ending (CRLF, bare CR, bare LF) as CRLF, and a final CRLF
/// added to a non-empty body whose last line is unterminated.
fn normalise(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
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

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn data_encoder_is_chunking_invariant(
        input in message(),
        points in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let whole = encode(&[&input]);
        prop_assert_eq!(&encode(&split_at(&input, &points)), &whole);
        prop_assert_eq!(&encode(&bytes_one_by_one(&input)), &whole);
        // empty chunks change nothing either
        let mut with_empty: Vec<&[u8]> = vec![b""];
        for c in split_at(&input, &points) {
            with_empty.push(c);
            with_empty.push(b"");
        }
        prop_assert_eq!(&encode(&with_empty), &whole);
    }

    #[test]
    fn data_encoder_output_is_safe(input in message()) {
        let (out, stats) = encode(&[&input]);

        if input.is_empty() {
            prop_assert_eq!(&out[..], b".\r\n");
        } else {
            prop_assert!(out.ends_with(b"\r\n.\r\n"));
            prop_assert_eq!(count(&out, b"\r\n.\r\n"), 1, "exactly one terminator");
        }
        // no bare CR, no bare LF
        for (i, &b) in out.iter().enumerate() {
            if b == b'\r' {
                prop_assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR at {}", i);
            }
            if b == b'\n' {
                prop_assert!(i > 0 && out[i - 1] == b'\r', "bare LF at {}", i);
            }
        }
        // every line but the terminator that starts with '.' is stuffed
        let body = &out[..out.len() - 3];
        let lines: Vec<&[u8]> = if body.is_empty() {
            Vec::new()
        } else {
            prop_assert!(body.ends_with(b"\r\n"));
            body[..body.len() - 2].split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .collect()
        };
        for l in &lines {
            if l.first() == Some(&b'.') {
                prop_assert_eq!(l.get(1), Some(&b'.'), "unstuffed line {:?}", String::from_utf8_lossy(l));
            }
        }
        // the stats describe the output
        prop_assert_eq!(stats.octets as usize, out.len() - 3);
        let longest = normalise(&input)
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
            .max()
            .unwrap_or(0);
        prop_assert_eq!(stats.longest_line, longest);
    }

    #[test]
    fn data_round_trip_restores_input(
        input in message(),
        points in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let (wire, _) = encode(&[&input]);
        let expected = normalise(&input);
        if !input.is_empty() {
            prop_assert!(expected.ends_with(b"\r\n"));
        }

        // in one piece, followed by the next command
        let mut d = DataDecoder::new(usize::MAX);
        let mut stream = wire.clone();
        stream.extend_from_slice(b"QUIT\r\n");
        let used = d.feed(&stream);
        prop_assert_eq!(used, wire.len(), "the decoder stops right after the terminator");
        prop_assert!(d.is_done());
        let body = d.into_result().unwrap();
        prop_assert_eq!(&body, &expected);
        if !input.is_empty() {
            prop_assert!(body.ends_with(b"\r\n"));
        }

        // in chunks
        let mut d = DataDecoder::new(usize::MAX);
        let mut used = 0;
        for c in split_at(&wire, &points) {
            if !c.is_empty() {
                prop_assert!(!d.is_done(), "done before the terminator arrived");
            }
            used += d.feed(c);
        }
        prop_assert_eq!(used, wire.len());
        prop_assert!(d.is_done());
        prop_assert_eq!(d.into_result().unwrap(), expected);
    }
}
