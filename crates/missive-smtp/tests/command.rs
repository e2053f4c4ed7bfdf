//! Command lines in the server role: the splitter's line-length cap in any
//! chunking, and properties of the splitter and of MAIL/RCPT encoding.

use missive_smtp::command::{Command, CommandLine, CommandParser, MAX_COMMAND_LINE};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::util::*;

#[test]
fn command_line_at_the_limit_is_accepted_in_any_chunking() {
    // MAX_COMMAND_LINE octets, CRLF included
    let mut line = vec![b'a'; MAX_COMMAND_LINE - 2];
    line.extend_from_slice(b"\r\n");
    let expected = vec![CommandLine::Line(vec![b'a'; MAX_COMMAND_LINE - 2])];
    assert_eq!(command_lines(&[&line]).0, expected);
    let (a, b) = line.split_at(MAX_COMMAND_LINE - 1);
    assert_eq!(command_lines(&[a, b]).0, expected);
    assert_eq!(
        command_lines(&line.chunks(7).collect::<Vec<_>>()).0,
        expected
    );
}

#[test]
fn command_line_one_over_the_limit_is_too_long() {
    let mut line = vec![b'a'; MAX_COMMAND_LINE - 1];
    line.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(
        command_lines(&[&line]).0,
        vec![CommandLine::TooLong, CommandLine::Line(b"NOOP".to_vec())]
    );
}

/// An over-long line must be reported once and its bytes dropped, however
/// the stream is cut; its tail must never come out as a command of its own.
#[test]
fn over_long_command_line_is_chunking_invariant() {
    let mut stream = vec![b'x'; MAX_COMMAND_LINE + 1];
    stream.extend_from_slice(b"RCPT TO:<evil@x.test>\r\nQUIT\r\n");
    let whole = command_lines(&[&stream]);
    assert_eq!(
        whole.0,
        vec![CommandLine::TooLong, CommandLine::Line(b"QUIT".to_vec())]
    );
    // the same bytes, cut right after the first MAX_COMMAND_LINE + 1 octets
    let (a, b) = stream.split_at(MAX_COMMAND_LINE + 1);
    let split = command_lines(&[a, b]);
    assert_eq!(split, whole, "the tail of the long line became a command");
}

#[test]
fn command_parser_endless_line_is_capped() {
    let mut p = CommandParser::new();
    p.feed(&vec![b'x'; MAX_COMMAND_LINE + 1]);
    assert_eq!(p.next_line(), Some(CommandLine::TooLong));
    assert!(!p.has_buffered(), "the dropped bytes are not kept");
}

// ---- properties ----------------------------------------------------------------

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

#[test]
fn a_quoted_local_part_may_hold_a_closing_bracket() {
    // RFC 5321 §4.1.2: the path ends at the first `>` outside quotes.
    let cmd = Command::parse(br#"MAIL FROM:<"a>b"@x.test> SIZE=10"#).unwrap();
    assert_eq!(
        cmd,
        Command::Mail {
            from: r#""a>b"@x.test"#.into(),
            params: vec!["SIZE=10".into()],
        }
    );
    let cmd = Command::parse(br#"RCPT TO:<"a\">"@x.test>"#).unwrap();
    assert_eq!(
        cmd,
        Command::Rcpt {
            to: r#""a\">"@x.test"#.into(),
            params: vec![],
        }
    );
    // Encoding and parsing again gives the same command.
    assert_eq!(Command::parse(&cmd.to_bytes()).unwrap(), cmd);
    assert!(Command::parse(br#"MAIL FROM:<"a>b@x.test"#).is_err());
}
