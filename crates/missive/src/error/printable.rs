//! Text that came from the network (a server's reply, a client of `serve`,
//! a DNS name) made safe for a terminal: control characters, C1 controls
//! and bidirectional overrides are shown escaped, so no server can move the
//! cursor, rewrite a line or recolour what the user reads.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` would act on a terminal instead of being shown.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped (`\r`, `\n`, `\x1b`,
/// `\u{202e}`); borrowed when there is none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if is_unsafe(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_controls_and_keeps_the_rest() {
        assert_eq!(printable("250 ok Grüße\tx"), "250 ok Grüße\tx");
        assert_eq!(
            printable("550 no\rsent to bob\x1b[2K\u{7f}\u{85}\u{202e}"),
            "550 no\\rsent to bob\\x1b[2K\\x7f\\u{85}\\u{202e}"
        );
    }
}
