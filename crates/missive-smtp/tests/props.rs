//! Property tests for the byte-level codecs: the reply parser, the server's
//! command-line splitter, and the DATA encoder/decoder.
//!
//! The central property everywhere is chunking invariance: a TCP stream may
//! be cut anywhere, so the result must not depend on where.

mod common;
use common::command_lines;
use missive_smtp::command::{Command, CommandLine};
use missive_smtp::data::{DataDecoder, DataEncoder, DataStats};
use missive_smtp::reply::{EnhancedCode, Reply, ReplyCode, ReplyParser};
use proptest::prelude::*;
use proptest::sample::Index;

// ---- helpers ----------------------------------------------------------------

/// Cuts `bytes` at the given points (any order, duplicates allowed).
fn split_at<'a>(bytes: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p.index(bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(&bytes[start..cut]);
        start = cut;
    }
    out.push(&bytes[start..]);
    out
}

fn bytes_one_by_one(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(1).collect()
}

// ---- replies ----------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum LastLine {
    /// `250 text`
    Text,
    /// `250` alone
    Bare,
    /// `250 ` with nothing after the space
    BareSpace,
}

#[derive(Debug, Clone)]
struct LineSpec {
    text: String,
    /// Later lines: whether they repeat the first line's enhanced code.
    repeat_enhanced: bool,
    crlf: bool,
}

#[derive(Debug, Clone)]
struct ReplySpec {
    code: u16,
    enhanced: Option<EnhancedCode>,
    lines: Vec<LineSpec>,
    last: LastLine,
}

impl ReplySpec {
    fn wire(&self) -> Vec<u8> {
        let mut out = String::new();
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let is_last = i + 1 == n;
            match (is_last, self.last) {
                (true, LastLine::Bare) => out.push_str(&self.code.to_string()),
                (true, LastLine::BareSpace) => out.push_str(&format!("{} ", self.code)),
                _ => {
                    let sep = if is_last { ' ' } else { '-' };
                    out.push_str(&format!("{}{sep}", self.code));
                    if let Some(e) = self.enhanced {
                        if i == 0 || line.repeat_enhanced {
                            out.push_str(&format!("{e} "));
                        }
                    }
                    out.push_str(&line.text);
                }
            }
            out.push_str(if line.crlf { "\r\n" } else { "\n" });
        }
        out.into_bytes()
    }

    /// The reply the parser must produce.
    fn expected(&self) -> Reply {
        let n = self.lines.len();
        let bare_last = !matches!(self.last, LastLine::Text);
        let enhanced = if n == 1 && bare_last {
            None
        } else {
            self.enhanced
        };
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i + 1 == n && bare_last {
                    String::new()
                } else {
                    l.text.clone()
                }
            })
            .collect();
        Reply {
            code: ReplyCode::new(self.code).unwrap(),
            enhanced,
            lines,
        }
    }
}

/// Reply text that never starts like an enhanced status code.
fn reply_text() -> impl Strategy<Value = String> {
    "([a-zA-Z<é€][ -~éü€]{0,40})?"
}

fn enhanced_code() -> impl Strategy<Value = EnhancedCode> {
    (
        prop_oneof![Just(2u8), Just(4u8), Just(5u8)],
        0u16..1000,
        0u16..1000,
    )
        .prop_map(|(class, subject, detail)| EnhancedCode {
            class,
            subject,
            detail,
        })
}

fn reply_spec() -> impl Strategy<Value = ReplySpec> {
    (
        200u16..600,
        proptest::option::of(enhanced_code()),
        prop::collection::vec(
            (reply_text(), any::<bool>(), any::<bool>()).prop_map(
                |(text, repeat_enhanced, crlf)| LineSpec {
                    text,
                    repeat_enhanced,
                    crlf,
                },
            ),
            1..6,
        ),
        prop_oneof![
            3 => Just(LastLine::Text),
            1 => Just(LastLine::Bare),
            1 => Just(LastLine::BareSpace),
        ],
    )
        .prop_map(|(code, enhanced, lines, last)| ReplySpec {
            code,
            enhanced,
            lines,
            last,
        })
}

fn parse_replies(chunks: &[&[u8]]) -> Result<(Vec<Reply>, bool), String> {
    let mut p = ReplyParser::new();
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c).map_err(|e| e.to_string())?;
        while let Some(r) = p.next_reply() {
            out.push(r);
        }
    }
    Ok((out, p.has_buffered()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reply_parser_is_chunking_invariant(
        specs in prop::collection::vec(reply_spec(), 1..8),
        points in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let wire: Vec<u8> = specs.iter().flat_map(ReplySpec::wire).collect();
        let expected: Vec<Reply> = specs.iter().map(ReplySpec::expected).collect();

        let whole = parse_replies(&[&wire]).unwrap();
        prop_assert_eq!(&whole.0, &expected);
        prop_assert!(!whole.1, "nothing may stay buffered after complete replies");

        let split = parse_replies(&split_at(&wire, &points)).unwrap();
        prop_assert_eq!(&split, &whole);

        let bytes = parse_replies(&bytes_one_by_one(&wire)).unwrap();
        prop_assert_eq!(&bytes, &whole);
    }

    #[test]
    fn reply_to_wire_round_trips(spec in reply_spec()) {
        let reply = spec.expected();
        let (again, _) = parse_replies(&[&reply.to_wire()]).unwrap();
        prop_assert_eq!(again, vec![reply]);
    }

    /// A partial reply is never handed out early, and `has_buffered` says so.
    #[test]
    fn reply_parser_holds_back_partial_replies(spec in reply_spec(), cut in any::<Index>()) {
        let wire = spec.wire();
        let cut = cut.index(wire.len()); // strictly before the final LF
        let (replies, buffered) = parse_replies(&[&wire[..cut]]).unwrap();
        prop_assert!(replies.is_empty());
        prop_assert_eq!(buffered, cut > 0);
    }
}

// ---- command lines (server role) ----------------------------------------------

#[derive(Debug, Clone)]
struct CmdLineSpec {
    content: Vec<u8>,
    crlf: bool,
}

fn cmd_line() -> impl Strategy<Value = CmdLineSpec> {
    (
        prop::collection::vec(
            prop_oneof![
                8 => 0x20u8..0x7f,
                1 => 0x80u8..=0xff,
                1 => Just(0u8),
            ],
            0..80,
        ),
        prop_oneof![4 => Just(true), 1 => Just(false)],
    )
        .prop_map(|(content, crlf)| CmdLineSpec { content, crlf })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn command_parser_is_chunking_invariant(
        lines in prop::collection::vec(cmd_line(), 0..12),
        tail in prop::collection::vec(prop_oneof![0x20u8..0x7f, Just(b'\r')], 0..20),
        points in prop::collection::vec(any::<Index>(), 0..24),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for l in &lines {
            wire.extend_from_slice(&l.content);
            if l.crlf {
                wire.extend_from_slice(b"\r\n");
                expected.push(CommandLine::Line(l.content.clone()));
            } else {
                wire.push(b'\n');
                expected.push(CommandLine::BareLf);
            }
        }
        wire.extend_from_slice(&tail);

        let whole = command_lines(&[&wire]);
        prop_assert_eq!(&whole.0, &expected);
        prop_assert_eq!(&whole.1, &tail);
        prop_assert_eq!(&command_lines(&split_at(&wire, &points)), &whole);
        prop_assert_eq!(&command_lines(&bytes_one_by_one(&wire)), &whole);
    }

    #[test]
    fn mail_and_rcpt_commands_round_trip(
        from in "([a-z0-9._+-]{1,20}@[a-z0-9-]{1,20}\\.[a-z]{2,6})?",
        to in "[a-z0-9._+-]{1,20}@[a-z0-9-]{1,20}\\.[a-z]{2,6}",
        params in prop::collection::vec("[A-Z]{1,8}=[A-Za-z0-9]{1,8}", 0..4),
    ) {
        let mail = Command::Mail { from, params: params.clone() };
        prop_assert_eq!(Command::parse(&mail.to_bytes()).unwrap(), mail);
        let rcpt = Command::Rcpt { to, params };
        prop_assert_eq!(Command::parse(&rcpt.to_bytes()).unwrap(), rcpt);
    }
}

// ---- DATA ---------------------------------------------------------------------

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
