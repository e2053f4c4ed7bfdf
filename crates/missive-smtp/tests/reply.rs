//! The reply parser: odd but valid forms, malformed lines, the size caps,
//! and properties over generated replies (chunking invariance, wire round
//! trip, partial replies held back).

use missive_smtp::reply::{
    EnhancedCode, Reply, ReplyCode, ReplyParser, MAX_REPLY_LEN, MAX_REPLY_LINES,
};
use missive_smtp::Error;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::util::*;

#[test]
fn reply_parser_odd_but_valid_forms() {
    let mut p = ReplyParser::new();
    p.feed(b"220\n250-a\n250 \r\n354 go\n").unwrap();
    let r = p.next_reply().unwrap();
    assert_eq!(
        (r.code.value(), r.lines.clone()),
        (220, vec![String::new()])
    );
    let r = p.next_reply().unwrap();
    assert_eq!(r.lines, vec!["a".to_string(), String::new()]);
    let r = p.next_reply().unwrap();
    assert_eq!((r.code.value(), r.text()), (354, "go".to_string()));
    assert!(p.next_reply().is_none());
    assert!(!p.has_buffered());
}

#[test]
fn reply_parser_enhanced_code_only_from_the_first_line() {
    let mut p = ReplyParser::new();
    p.feed(b"550-5.1.1 first\r\n550-second\r\n550 5.1.1 third\r\n")
        .unwrap();
    let r = p.next_reply().unwrap();
    assert_eq!(r.enhanced, EnhancedCode::parse("5.1.1"));
    assert_eq!(r.lines, vec!["first", "second", "third"]);
    assert_eq!(r.summary(), "550 5.1.1 first second third");
}

#[test]
fn reply_parser_rejects_malformed_lines() {
    for bad in [
        &b"hello\r\n"[..],
        b"25\r\n",
        b"2x0 ok\r\n",
        b"250_ok\r\n",
        b"600 too high\r\n",
        b"199 too low\r\n",
        b"250-a\r\n550 b\r\n",
    ] {
        let mut p = ReplyParser::new();
        assert!(
            matches!(p.feed(bad), Err(Error::Protocol(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn reply_parser_caps_size_in_any_chunking() {
    // one line just over the cap, no LF
    let mut p = ReplyParser::new();
    let big = vec![b'2'; MAX_REPLY_LEN + 1];
    let mut failed = false;
    for c in big.chunks(1000) {
        if p.feed(c).is_err() {
            failed = true;
            break;
        }
    }
    assert!(failed);

    // exactly at the cap is fine
    let mut p = ReplyParser::new();
    let mut line = b"250 ".to_vec();
    line.resize(MAX_REPLY_LEN - 2, b'x');
    line.extend_from_slice(b"\r\n");
    assert_eq!(line.len(), MAX_REPLY_LEN);
    p.feed(&line).unwrap();
    assert!(p.next_reply().is_some());

    // too many lines
    let mut p = ReplyParser::new();
    let many = b"250-x\r\n".repeat(MAX_REPLY_LINES + 1);
    assert!(matches!(p.feed(&many), Err(Error::Protocol(_))));

    // the cap is per reply: many small replies in a row are fine
    let mut p = ReplyParser::new();
    let small = b"250 ok\r\n".repeat(MAX_REPLY_LEN / 4);
    p.feed(&small).unwrap();
    let mut n = 0;
    while p.next_reply().is_some() {
        n += 1;
    }
    assert_eq!(n, MAX_REPLY_LEN / 4);
}

// ---- properties ----------------------------------------------------------------

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
