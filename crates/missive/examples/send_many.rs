//! Sends N small messages through one `Mailer`, reusing its sessions.
//!
//! ```sh
//! MISSIVE_SERVER=smtp.example.com:587 MISSIVE_USER=me@example.com MISSIVE_PASSWORD=… \
//!     MISSIVE_CAFILE=ca.pem cargo run --example send_many -- --to you@example.com --count 50 --connections 1
//! ```
//!
//! Prints one JSON line per message (`{"i":…,"accepted":…,"code":…}`) and
//! exits 0 only if every message was accepted. The messages are sent from
//! `--connections` tasks at once (default 1), so with one connection they
//! all go over a single SMTP session.

use std::process::ExitCode;

use missive::{Login, Mail, Mailer, MailerOptions, MessageBuilder, Relay, Route, SecretSource};

struct Args {
    to: String,
    count: usize,
    connections: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        to: String::new(),
        count: 1,
        connections: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--to" => a.to = value,
            "--count" => a.count = value.parse().map_err(|_| "--count takes a number")?,
            "--connections" => {
                a.connections = value.parse().map_err(|_| "--connections takes a number")?
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.to.is_empty() {
        return Err("give --to ADDR".into());
    }
    Ok(a)
}

fn mailer(connections: usize) -> missive::Result<Mailer> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let server = env("MISSIVE_SERVER").unwrap_or_else(|| "localhost:587".into());
    let mut relay = Relay::new(&server)?;
    if let Some(user) = env("MISSIVE_USER") {
        relay = relay.login(Login::password(
            user,
            SecretSource::Env("MISSIVE_PASSWORD".into()),
        ));
    }
    let mut options = MailerOptions::new(Route::Relay(relay));
    options.trust.cafile = env("MISSIVE_CAFILE").map(Into::into);
    options.connections = connections;
    options.max_messages_per_connection = usize::MAX;
    Mailer::new(options)
}

async fn run(a: Args) -> missive::Result<bool> {
    let mailer = mailer(a.connections)?;
    let from = std::env::var("MISSIVE_USER")
        .ok()
        .filter(|u| u.contains('@'))
        .unwrap_or_else(|| "send-many@example.test".into());
    let mut mails = Vec::new();
    for i in 1..=a.count {
        let built = MessageBuilder::new(&from)?
            .to(&a.to)?
            .subject(format!("message {i} of {}", a.count))
            .text(format!("This is message {i} of {}.", a.count))
            .build()?;
        let id = built.message_id.clone();
        mails.push(Mail::new(&built.from_address, &[&a.to], built.message)?.with_message_id(id));
    }
    // `connections` workers take the messages in turn, all through one mailer.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || async {
        let mut lines = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(mail) = mails.get(i) else { break };
            let (accepted, code) = match mailer.send(mail).await {
                Ok(o) => (
                    o.all_accepted(),
                    o.recipients
                        .first()
                        .and_then(|r| r.reply.as_ref())
                        .map(|r| r.code.value()),
                ),
                Err(e) => {
                    eprintln!("send_many: message {}: {e}", i + 1);
                    (false, None)
                }
            };
            println!(
                "{}",
                serde_json::json!({ "i": i + 1, "accepted": accepted, "code": code })
            );
            lines.push(accepted);
        }
        lines
    };
    let results = futures_util::future::join_all((0..a.connections).map(|_| worker())).await;
    mailer.close().await;
    Ok(results.iter().flatten().all(|&ok| ok)
        && results.iter().map(Vec::len).sum::<usize>() == a.count)
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("send_many: {e}");
            return ExitCode::from(64);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(run(a)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("send_many: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
