//! The sendmail interface: `missive sendmail …`, or the binary invoked as
//! `sendmail` (a symlink), for cron, git send-email, mutt and friends. The
//! message comes on standard input; the server and credentials from the
//! `MISSIVE_*` environment (without `MISSIVE_SERVER`: direct MX delivery).

use super::args::{DsnRet, QueueArg, SendArgs};
use crate::error::{AppError, Result};
use crate::message::draft::SendmailMode;

/// The options of sendmail(8) that programs use, parsed into `send`
/// options and what the sendmail interface changes.
pub(crate) fn parse(argv: &[String]) -> Result<(SendArgs, SendmailMode)> {
    let mut args = SendArgs {
        message: Some("-".into()),
        ..SendArgs::default()
    };
    let mut full_name: Option<String> = None;
    let mut ignore_dots = false;
    let mut i = 0;
    // `-f ADDR` and `-fADDR` are the same.
    let value = |i: &mut usize, flag: &str, attached: &str| -> Result<String> {
        if !attached.is_empty() {
            return Ok(attached.to_string());
        }
        *i += 1;
        argv.get(*i)
            .cloned()
            .ok_or_else(|| AppError::Usage(format!("sendmail: {flag} needs a value")))
    };
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            args.to.extend(argv[i + 1..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            args.to.push(a.to_string());
            i += 1;
            continue;
        }
        // missive's own long options: --dkim-key/-selector/-domain V (or =V),
        // --require-tls, --tls-required-no.
        if let Some((name, v)) = long_value(a, &["--dkim-key", "--dkim-selector", "--dkim-domain"])
        {
            let v = match v {
                Some(v) => v,
                None => value(&mut i, name, "")?,
            };
            match name {
                "--dkim-key" => args.route.dkim_key.push(v.into()),
                "--dkim-selector" => args.route.dkim_selector.push(v),
                _ => args.route.dkim_domain.push(v),
            }
            i += 1;
            continue;
        }
        if a == "--require-tls" {
            args.route.require_tls = true;
            i += 1;
            continue;
        }
        if a == "--tls-required-no" {
            args.tls_required_no = true;
            i += 1;
            continue;
        }
        if let Some(rest) = a.strip_prefix("--queue") {
            let v = match rest.strip_prefix('=') {
                Some(v) => v.to_string(),
                None if rest.is_empty() => value(&mut i, "--queue", "")?,
                None => return Err(AppError::Usage(format!("sendmail: unsupported option {a}"))),
            };
            args.queue = Some(match v.as_str() {
                "never" => QueueArg::Never,
                "on-failure" => QueueArg::OnFailure,
                "always" => QueueArg::Always,
                _ => {
                    return Err(AppError::Usage(format!(
                        "sendmail: --queue takes never, on-failure or always, not {v:?}"
                    )))
                }
            });
            i += 1;
            continue;
        }
        match a {
            "-t" => args.read_recipients = true,
            // Queue only (deliver later): missive's --queue always.
            "-odq" | "-odd" => args.queue = Some(QueueArg::Always),
            "-i" | "-oi" => ignore_dots = true,
            "-v" => args.verbose = args.verbose.saturating_add(1),
            // delivery mode, error reporting, and the like: missive tries at
            // once (the queue setting decides what is kept) and reports errors
            // by exit code.
            "-bm" | "-odi" | "-odb" | "-oem" | "-oee" | "-oep" | "-oeq" | "-oew" | "-om" | "-Am" | "-Ac" => {}
            _ if a.starts_with("-f") || a.starts_with("-r") => args.route.from = Some(value(&mut i, "-f", &a[2..])?),
            _ if a.starts_with("-F") => full_name = Some(value(&mut i, "-F", &a[2..])?),
            _ if a.starts_with("-N") => {
                let v = value(&mut i, "-N", &a[2..])?;
                args.dsn_notify = Some(v);
            }
            _ if a.starts_with("-V") => args.envid = Some(value(&mut i, "-V", &a[2..])?),
            _ if a.starts_with("-R") => {
                let v = value(&mut i, "-R", &a[2..])?;
                args.dsn_ret = match v.to_ascii_lowercase().as_str() {
                    "full" => Some(DsnRet::Full),
                    "hdrs" => Some(DsnRet::Hdrs),
                    _ => return Err(AppError::Usage(format!("sendmail: -R takes full or hdrs, not {v:?}"))),
                };
            }
            // Other -o options (-oXvalue) and -B (body type) change nothing here.
            _ if a.starts_with("-o") || a.starts_with("-B") => {}
            _ => {
                return Err(AppError::Usage(format!(
                    "sendmail: unsupported option {a} (supported: -t -i -oi -f -F -N -R -V -v -bm -odi -odq -oem --queue WHEN --dkim-key FILE --dkim-selector S --dkim-domain D --require-tls --tls-required-no)"
                )))
            }
        }
        i += 1;
    }
    if args.to.is_empty() && !args.read_recipients {
        return Err(AppError::Usage(
            "sendmail: no recipients: give them as arguments, or -t to read them from the message"
                .into(),
        ));
    }
    args.quiet = true;
    Ok((
        args,
        SendmailMode {
            full_name,
            dot_ends_input: !ignore_dots,
        },
    ))
}

/// `--name` or `--name=value` for one of `names`.
fn long_value(a: &str, names: &[&'static str]) -> Option<(&'static str, Option<String>)> {
    names.iter().find_map(|n| match a.strip_prefix(n) {
        Some("") => Some((*n, None)),
        Some(rest) => rest.strip_prefix('=').map(|v| (*n, Some(v.to_string()))),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Mailbox;

    fn p(args: &[&str]) -> Result<(SendArgs, SendmailMode)> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// The sender a sendmail message without a From gets.
    fn from_of(a: &(SendArgs, SendmailMode)) -> Result<Mailbox> {
        let mut draft = a.0.draft();
        draft.sendmail = Some(a.1.clone());
        draft.sendmail_from()
    }

    #[test]
    fn queue_options() {
        assert_eq!(
            p(&["--queue", "always", "a@x.test"]).unwrap().0.queue,
            Some(QueueArg::Always)
        );
        assert_eq!(
            p(&["--queue=never", "a@x.test"]).unwrap().0.queue,
            Some(QueueArg::Never)
        );
        assert_eq!(
            p(&["-odq", "a@x.test"]).unwrap().0.queue,
            Some(QueueArg::Always)
        );
        assert_eq!(p(&["-t"]).unwrap().0.queue, None);
        assert!(p(&["--queue", "later", "a@x.test"]).is_err());
    }

    #[test]
    fn common_invocations() {
        let (a, mode) = p(&["-t", "-i"]).unwrap();
        assert!(a.read_recipients && !mode.dot_ends_input);
        let parsed = p(&[
            "-oi",
            "-f",
            "me@x.test",
            "-FMe Myself",
            "bob@x.test",
            "carol@x.test",
        ])
        .unwrap();
        let a = &parsed.0;
        assert_eq!(a.route.from.as_deref(), Some("me@x.test"));
        assert_eq!(a.to, ["bob@x.test", "carol@x.test"]);
        let from = from_of(&parsed).unwrap();
        assert_eq!(from.name.as_deref(), Some("Me Myself"));
        assert_eq!(from.addr, "me@x.test");
        let (a, mode) = p(&[
            "-fme@x.test",
            "-odi",
            "-oem",
            "-bm",
            "-N",
            "failure,delay",
            "--",
            "-odd@x.test",
        ])
        .unwrap();
        assert_eq!(a.to, ["-odd@x.test"]);
        assert_eq!(a.dsn_notify.as_deref(), Some("failure,delay"));
        assert!(mode.dot_ends_input, "without -i a lone dot ends the input");
    }

    #[test]
    fn full_name_cannot_inject_headers() {
        let parsed = p(&[
            "-i",
            "-f",
            "a@x.test",
            "-F",
            "Eve\r\nBcc: evil@x.test",
            "b@x.test",
        ])
        .unwrap();
        let e = from_of(&parsed).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::exit::DATAERR);
        let m = Mailbox {
            name: Some("Eve\r\nBcc: x@y".into()),
            addr: "a@x.test".into(),
        };
        assert!(!m.header_form().contains(['\r', '\n']));
    }

    #[test]
    fn errors_are_usage() {
        assert!(p(&[]).is_err());
        assert!(p(&["-X", "a@x.test"]).is_err());
        assert!(p(&["-f"]).is_err());
    }
}
