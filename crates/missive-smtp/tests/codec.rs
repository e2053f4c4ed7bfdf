//! Example-based tests for the codecs, at the edges the property tests do
//! not reach: the size caps, and the exact forms of odd replies.

mod common;
use common::command_lines;
use missive_smtp::command::{CommandLine, CommandParser, MAX_COMMAND_LINE};
use missive_smtp::data::{DataDecoder, DataEncoder, DataError};
use missive_smtp::reply::{EnhancedCode, ReplyParser, MAX_REPLY_LEN, MAX_REPLY_LINES};
use missive_smtp::Error;

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
