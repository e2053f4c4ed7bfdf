//! `missive config show`: the effective settings and where each comes from.

use std::io::Write;

use crate::cli::ConfigCmd;
use crate::error::Result;
use crate::outbox::human;
use crate::settings::{self, Overrides};

pub(super) fn run(cmd: ConfigCmd) -> Result<()> {
    let ConfigCmd::Show(a) = cmd;
    let flags = Overrides {
        account: a.account,
        from: a.from,
        preset: a.preset,
        config: a.config,
        ..Overrides::default()
    };
    let settings = match settings::resolve(&flags) {
        Ok(s) => s,
        Err(e) => {
            if a.json {
                println!("{:#}", e.json());
            }
            return Err(e);
        }
    };
    let p = &settings.provenance;
    if a.quiet && !a.json {
        return Ok(());
    }
    let q = &settings.queue;
    // `None`: each command's own default (send: never; sendmail: on-failure).
    let when = q
        .when
        .map_or("the command's default".to_string(), |w| w.to_string());
    if a.json {
        let mut v = serde_json::to_value(p).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "queue".into(),
                serde_json::json!({
                    "when": q.when,
                    "dir": q.dir,
                    "lifetime_secs": q.lifetime.as_secs(),
                    "backoff_secs": q.backoff.as_secs(),
                    "backoff_max_secs": q.backoff_max.as_secs(),
                    "notify_failures": q.notify_failures,
                }),
            );
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let file = p
        .config
        .as_ref()
        .map_or("none".into(), |c| c.display().to_string());
    let _ = writeln!(out, "config   {file}");
    let _ = writeln!(out, "account  {}", p.account.as_deref().unwrap_or("none"));
    let _ = writeln!(out, "preset   {}", p.preset.as_deref().unwrap_or("none"));
    for e in &p.entries {
        let _ = writeln!(out, "{:<8} {}  ({})", e.key, e.value, e.source);
    }
    if settings.server.is_none() {
        let _ = writeln!(
            out,
            "(no server: mail goes directly to each recipient's MX hosts)"
        );
    }
    let _ = writeln!(
        out,
        "queue    {when}; spool {}; retried after {}, doubling up to {}, for {}{}",
        q.dir.display(),
        human(q.backoff),
        human(q.backoff_max),
        human(q.lifetime),
        if q.notify_failures {
            "; failure notices to the sender"
        } else {
            ""
        }
    );
    if let Some(note) = &p.note {
        let _ = writeln!(out, "note     {note}");
    }
    Ok(())
}
