//! The sendmail interface: `missive sendmail …`, or the binary invoked as
//! `sendmail` (a symlink), for cron, git send-email, mutt and friends. The
//! message comes on standard input; the server and credentials from the
//! `MISSIVE_*` environment (without `MISSIVE_SERVER`: direct MX delivery).

use crate::cli::{SendArgs, SendmailMode};
use crate::error::{AppError, Result};
use crate::message::Mailbox;

/// The options of sendmail(8) that programs use, parsed into `send` options.
pub fn parse(argv: &[String]) -> Result<SendArgs> {
    let mut args = SendArgs {
        message: Some("-".into()),
        sendmail: Some(SendmailMode::default()),
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
        match a {
            "-t" => args.read_recipients = true,
            "-i" | "-oi" => ignore_dots = true,
            "-v" => args.verbose = args.verbose.saturating_add(1),
            // delivery mode, queueing, error reporting, and the like: missive
            // always delivers at once and reports errors by exit code.
            "-bm" | "-odi" | "-odb" | "-oem" | "-oee" | "-oep" | "-oeq" | "-oew" | "-om" | "-Am" | "-Ac" => {}
            _ if a.starts_with("-f") || a.starts_with("-r") => args.from = Some(value(&mut i, "-f", &a[2..])?),
            _ if a.starts_with("-F") => full_name = Some(value(&mut i, "-F", &a[2..])?),
            _ if a.starts_with("-N") => {
                let v = value(&mut i, "-N", &a[2..])?;
                args.dsn_notify = Some(v);
            }
            _ if a.starts_with("-V") => args.envid = Some(value(&mut i, "-V", &a[2..])?),
            _ if a.starts_with("-R") => {
                let v = value(&mut i, "-R", &a[2..])?;
                args.dsn_ret = match v.to_ascii_lowercase().as_str() {
                    "full" => Some(crate::cli::DsnRet::Full),
                    "hdrs" => Some(crate::cli::DsnRet::Hdrs),
                    _ => return Err(AppError::Usage(format!("sendmail: -R takes full or hdrs, not {v:?}"))),
                };
            }
            // Other -o options (-oXvalue) and -B (body type) change nothing here.
            _ if a.starts_with("-o") || a.starts_with("-B") => {}
            _ => {
                return Err(AppError::Usage(format!(
                    "sendmail: unsupported option {a} (supported: -t -i -oi -f -F -N -R -V -v -bm -odi -oem)"
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
    args.sendmail = Some(SendmailMode {
        full_name,
        dot_ends_input: !ignore_dots,
    });
    args.quiet = true;
    Ok(args)
}

/// The From a sendmail message gets when it has none: -f (or MISSIVE_FROM,
/// or the account's), else the local user, with -F's full name.
pub fn default_from(args: &SendArgs) -> Result<Mailbox> {
    let from = args
        .from
        .clone()
        .unwrap_or_else(crate::sandbox::default_from);
    let mut mailbox = Mailbox::parse(&from)?;
    if let Some(name) = args.sendmail.as_ref().and_then(|m| m.full_name.as_ref()) {
        crate::message::reject_crlf("full name (-F)", name)?;
        mailbox.name = Some(name.clone());
    }
    Ok(mailbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<SendArgs> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn common_invocations() {
        let a = p(&["-t", "-i"]).unwrap();
        assert!(a.read_recipients && !a.sendmail.as_ref().unwrap().dot_ends_input);
        let a = p(&[
            "-oi",
            "-f",
            "me@x.test",
            "-FMe Myself",
            "bob@x.test",
            "carol@x.test",
        ])
        .unwrap();
        assert_eq!(a.from.as_deref(), Some("me@x.test"));
        assert_eq!(a.to, ["bob@x.test", "carol@x.test"]);
        let from = default_from(&a).unwrap();
        assert_eq!(from.name.as_deref(), Some("Me Myself"));
        assert_eq!(from.addr, "me@x.test");
        let a = p(&[
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
        assert!(
            a.sendmail.as_ref().unwrap().dot_ends_input,
            "without -i a lone dot ends the input"
        );
    }

    #[test]
    fn full_name_cannot_inject_headers() {
        let a = p(&[
            "-i",
            "-f",
            "a@x.test",
            "-F",
            "Eve\r\nBcc: evil@x.test",
            "b@x.test",
        ])
        .unwrap();
        let e = default_from(&a).unwrap_err();
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
