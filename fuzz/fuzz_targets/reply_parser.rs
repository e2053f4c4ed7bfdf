//! The reply parser fed arbitrary server bytes in arbitrary chunkings.
//!
//! Invariants: no panic; the replies and whether an error came do not depend
//! on where the stream is cut; every parsed reply survives `to_wire` and a
//! second parse unchanged; capabilities can be read from any reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use missive_smtp::capabilities::Capabilities;
use missive_smtp::reply::{Reply, ReplyParser};
use missive_smtp_fuzz::cut;

/// The replies completed before the first error, and whether one came.
fn parse(chunks: &[&[u8]]) -> (Vec<Reply>, bool) {
    let mut p = ReplyParser::new();
    let mut out = Vec::new();
    for c in chunks {
        let fed = p.feed(c);
        while let Some(r) = p.next_reply() {
            out.push(r);
        }
        if fed.is_err() {
            return (out, true);
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = parse(&[input]);
    let chunked = parse(&cut(input, seed));
    assert_eq!(whole, chunked, "chunking changed the result");
    for r in &whole.0 {
        let wire = r.to_wire();
        let mut p = ReplyParser::new();
        p.feed(&wire).expect("a reply's wire form parses");
        assert_eq!(p.next_reply().as_ref(), Some(r), "wire form {wire:?}");
        assert!(p.next_reply().is_none());
        let _ = (r.summary(), r.text(), r.queue_id(), r.to_string());
        let _ = Capabilities::from_ehlo(r).keywords();
    }
});
