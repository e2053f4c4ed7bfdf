//! Defect 3: text from the network reaches the terminal escaped: a server
//! cannot rewrite what the user reads with ESC sequences or a mid-line CR.

use missive_smtp::Command;

use crate::support::fake_smtp::{Script, Server, Step};

const HOSTILE: &str = "550 5.1.1 no\x1b[2K\rsent the message to bob@example.test\u{202e}";

fn refusing_server() -> Server {
    Server::start(Script::new().on(|conn, cmd| match cmd {
        Command::Rcpt { .. } => {
            conn.reply(HOSTILE);
            Step::Next
        }
        _ => Step::Default,
    }))
}

#[test]
fn reply_text_is_escaped_in_the_error_line_and_the_transcript() {
    for verbose in [false, true] {
        let server = refusing_server();
        let mut m = server.client().args(&["--tls", "none"]);
        if verbose {
            m = m.args(&["-v"]);
        }
        let out = m.run();
        server.finish();
        out.assert_code(69);
        for bad in ['\x1b', '\r', '\u{202e}'] {
            assert!(
                !out.stderr.contains(bad) && !out.stdout.contains(bad),
                "{bad:?} reached the terminal (verbose {verbose})\n{out:?}"
            );
        }
        assert!(
            out.stderr.contains("no\\x1b[2K\\rsent the message"),
            "{out}"
        );
    }
}
