//! The client state machine fed arbitrary server bytes, with credentials.
//!
//! Invariants: no panic and no endless loop; what the client writes is
//! CRLF-terminated command lines only; the secret (a distinctive password
//! or token) never appears in any transcript `Event`, in the client's
//! `Debug`, or in an error (unless the server itself sent it), and goes on
//! the wire only over verified TLS or when plaintext AUTH is allowed.
//! With `send_envelope` no DATA, BDAT or body ever goes; after a
//! successful `quit_early` the next write is QUIT and nothing else;
//! REQUIRETLS goes only over verified TLS.
#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use std::sync::OnceLock;

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use missive_smtp::envelope::Dsn;
use missive_smtp::{
    Client, ClientConfig, Credentials, Envelope, Event, Mechanism, Next, Secret, TlsMode,
};
use missive_smtp_fuzz::{contains, cut, only_crlf};

const USER: &str = "fuzz-user@example.test";
const PASSWORD: &str = "Zq7-fuzz-SECRET-pw";
const TOKEN: &str = "ya29.FUZZ-SECRET-token";
const HOST: &str = "smtp.example.test";
const PORT: u16 = 587;

/// Every form in which the secrets could leak (built once: per input it
/// was a tenth of the run time).
fn secret_forms() -> &'static [String] {
    static FORMS: OnceLock<Vec<String>> = OnceLock::new();
    FORMS.get_or_init(|| {
        vec![
            PASSWORD.to_string(),
            B64.encode(PASSWORD),
            B64.encode(format!("\0{USER}\0{PASSWORD}")),
            TOKEN.to_string(),
            B64.encode(TOKEN),
            B64.encode(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01")),
            B64.encode(format!(
                "n,a={USER},\x01host={HOST}\x01port={PORT}\x01auth=Bearer {TOKEN}\x01\x01"
            )),
        ]
    })
}

fn leaks(text: &str, forms: &[String]) -> Option<String> {
    forms.iter().find(|f| text.contains(f.as_str())).cloned()
}

fuzz_target!(|data: &[u8]| {
    let [flags, choice, input @ ..] = data else {
        return;
    };
    let tls = match flags & 3 {
        0 => TlsMode::None,
        1 => TlsMode::Opportunistic,
        2 => TlsMode::StartTls,
        _ => TlsMode::Implicit,
    };
    let credentials = match (flags >> 2) & 3 {
        0 => None,
        1 | 3 => Some(Credentials::Password {
            user: USER.into(),
            password: Secret::new(PASSWORD),
        }),
        _ => Some(Credentials::Token {
            user: USER.into(),
            token: Secret::new(TOKEN),
        }),
    };
    let mechanism = (flags & 0x10 != 0).then(|| match choice % 5 {
        0 => Mechanism::Plain,
        1 => Mechanism::Login,
        2 => Mechanism::CramMd5,
        3 => Mechanism::XOAuth2,
        _ => Mechanism::OAuthBearer,
    });
    let allow_plaintext_auth = flags & 0x20 != 0;
    let verify = flags & 0x40 != 0;
    let config = ClientConfig {
        ehlo_name: "client.example.test".into(),
        tls,
        credentials,
        mechanism,
        allow_plaintext_auth,
        server_host: HOST.into(),
        server_port: PORT,
        chunking: flags & 0x80 != 0,
    };

    let forms = secret_forms();
    // A server may echo the secret itself; then only what the client says counts.
    let server_has_secret = forms.iter().any(|f| contains(input, f.as_bytes()));
    let mut client = Client::new(config);
    // Line by line (each line cut by `choice`), so replies come when the
    // client waits for them; or, with the top bit, the stream cut anywhere.
    let chunks: Vec<&[u8]> = if choice & 0x80 != 0 {
        cut(input, *choice)
    } else {
        input
            .split_inclusive(|&b| b == b'\n')
            .flat_map(|line| cut(line, *choice))
            .collect()
    };
    let mut chunks = chunks.into_iter();
    let mut verified = tls == TlsMode::Implicit;
    let (mut sent_mail, mut bdat_chunks) = (false, 0);
    // Transactions started, outcomes taken, and those pipelined behind an end of data.
    let (mut started, mut outcomes, mut pipelined) = (0usize, 0usize, 0usize);
    // Some of `choice`'s bits also pick the diagnosis paths (--quit-after).
    let envelope_only = choice & 0x20 != 0;
    // Start the next transaction behind the end of a message (RFC 2920 §3.1).
    let pipeline = choice & 0x01 != 0 && !envelope_only;
    let quit_at = (choice & 0x40 != 0).then_some(usize::from((choice >> 2) & 7));
    let mut reads = 0;
    let cap = 1000 + input.len() * 8;
    for _ in 0..cap {
        while let Some(event) = client.poll_event() {
            match event {
                Event::Sent(line) => {
                    assert!(!line.contains(['\r', '\n']), "{line:?}");
                    if let Some(f) = leaks(&line, forms) {
                        panic!("secret {f:?} in the transcript line {line:?}");
                    }
                }
                Event::Received(reply) => {
                    let _ = reply.summary();
                }
            }
        }
        let next = match client.poll() {
            Ok(n) => n,
            Err(e) => {
                if !server_has_secret {
                    for shown in [e.to_string(), format!("{e:?}")] {
                        if let Some(f) = leaks(&shown, forms) {
                            panic!("secret {f:?} in the error {shown:?}");
                        }
                    }
                }
                assert_eq!(client.poll(), Err(e), "errors are sticky");
                return;
            }
        };
        match next {
            Next::Write(bytes) => {
                assert!(only_crlf(&bytes) && bytes.ends_with(b"\r\n"), "{bytes:?}");
                if envelope_only {
                    let body = bytes
                        .split(|&b| b == b'\n')
                        .any(|l| l.eq_ignore_ascii_case(b"DATA\r") || l.starts_with(b"BDAT"));
                    assert!(!body, "DATA or BDAT with send_envelope: {bytes:?}");
                }
                let text = String::from_utf8_lossy(&bytes);
                // RFC 8689: REQUIRETLS only over verified TLS.
                assert!(!text.contains(" REQUIRETLS") || verified, "{text:?}");
                if let Some(f) = leaks(&text, forms) {
                    assert!(
                        verified || allow_plaintext_auth,
                        "secret {f:?} sent without verified TLS"
                    );
                }
            }
            Next::Read { .. } => match chunks.next() {
                Some(c) => {
                    reads += 1;
                    client.receive(c);
                    // --quit-after: stop between replies, before the next write.
                    if quit_at == Some(reads) && client.quit_early() {
                        assert_eq!(client.poll(), Ok(Next::Write(b"QUIT\r\n".to_vec())));
                    }
                    // A completed reply may have queued AUTH data: the
                    // client's Debug must not show it (checked only then:
                    // formatting on every poll would slow the run tenfold).
                    if c.contains(&b'\n') && !server_has_secret {
                        if let Some(f) = leaks(&format!("{client:?}"), forms) {
                            panic!("secret {f:?} in the client's Debug");
                        }
                    }
                }
                None => client.connection_closed(),
            },
            Next::StartTls => {
                if verify {
                    client.tls_established();
                    verified = true;
                } else {
                    client.tls_established_unverified();
                }
            }
            Next::Ready => {
                while let Some(o) = client.take_outcome() {
                    let _ = o.recipients();
                    outcomes += 1;
                }
                assert!(
                    outcomes <= started,
                    "{outcomes} outcomes of {started} transactions"
                );
                if sent_mail {
                    client.quit();
                    if client.poll() == Ok(Next::Ready) {
                        return; // quit is a no-op only in states where it cannot go on
                    }
                } else {
                    sent_mail = true;
                    let envelope = Envelope {
                        from: "sender@example.test".into(),
                        to: vec!["a@example.test".into(), "b@example.test".into()],
                        eight_bit: true,
                        size: Some(1234),
                        dsn: Dsn {
                            ret: Some("HDRS".into()),
                            envid: Some("id+1".into()),
                            notify: Some("FAILURE".into()),
                        },
                        require_tls: choice & 0x02 != 0,
                        ..Envelope::default()
                    };
                    let begun = if envelope_only {
                        client.send_envelope(envelope, choice & 0x10 != 0)
                    } else {
                        client.send_mail(envelope)
                    };
                    match begun {
                        Ok(()) => started += 1,
                        Err(_) => client.quit(),
                    }
                }
            }
            Next::SendBody => {
                assert!(!envelope_only, "a body is due after send_envelope");
                if client.uses_bdat() {
                    bdat_chunks += 1;
                    let cmd = client
                        .bdat_command(5, bdat_chunks >= 2)
                        .expect("BDAT after SendBody");
                    assert!(only_crlf(&cmd));
                } else {
                    client.body_sent();
                }
                // The next transaction behind the end of this message (RFC 2920 §3.1).
                if pipeline && pipelined < 2 && client.can_pipeline_next() {
                    pipelined += 1;
                    let next = Envelope {
                        from: "sender@example.test".into(),
                        to: vec!["c@example.test".into()],
                        ..Envelope::default()
                    };
                    client
                        .send_mail(next)
                        .expect("send_mail when can_pipeline_next says so");
                    started += 1;
                }
            }
            Next::Closed => return,
        }
    }
    panic!("no end after {cap} polls: {client:?}");
});
