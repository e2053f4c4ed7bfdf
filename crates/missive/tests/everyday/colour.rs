//! Colour: on a terminal only, never with NO_COLOR (unless --color always),
//! client lines, server lines, errors and hints each in their own colour.

use crate::support::*;

const ESC: &str = "\x1b[";

fn sandbox_args(dir: &TempDir) -> Vec<String> {
    [
        "send",
        "--sandbox",
        "--maildir",
        dir.join("mail").to_str().unwrap(),
        "--from",
        "me@x.test",
        "--to",
        "you@x.test",
        "--body",
        "hi",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn transcript_is_coloured_on_a_terminal_only() {
    let dir = TempDir::new("colour");
    let args = sandbox_args(&dir);
    let tty = in_pty(&args, &[]);
    tty.assert_code(0);
    assert!(tty.stdout.contains("\x1b[36mC: EHLO"), "{}", tty.stdout);
    assert!(tty.stdout.contains("\x1b[32mS: 250"), "{}", tty.stdout);
    assert!(tty.stdout.contains("\x1b[2m* "), "{}", tty.stdout);

    let piped = Cmd::new(&args).run();
    piped.assert_code(0);
    assert!(piped.stderr.contains("C: EHLO"), "{piped}");
    assert!(!piped.all().contains(ESC), "{piped}");

    let no_color = in_pty(&args, &[("NO_COLOR", "1")]);
    no_color.assert_code(0);
    assert!(no_color.stdout.contains("C: EHLO"), "{}", no_color.stdout);
    assert!(!no_color.stdout.contains(ESC), "{}", no_color.stdout);

    let mut never = args.clone();
    never.insert(0, "--color=never".into());
    let never = in_pty(&never, &[]);
    assert!(!never.stdout.contains(ESC), "{}", never.stdout);

    let env_never = in_pty(&args, &[("MISSIVE_COLOR", "never")]);
    assert!(!env_never.stdout.contains(ESC), "{}", env_never.stdout);

    let mut always = args.clone();
    always.push("--color=always".into());
    let always = Cmd::new(&always).run();
    assert!(always.stderr.contains("\x1b[36mC: EHLO"), "{always}");
}

#[test]
fn errors_and_hints_are_coloured_on_a_terminal() {
    // Nothing listens on port 1: an error line; --insecure: a warning line.
    let args = [
        "send",
        "--server",
        "127.0.0.1:1",
        "--from",
        "me@x.test",
        "--to",
        "you@x.test",
        "--body",
        "hi",
        "--insecure",
        "--timeout",
        "5",
    ];
    let tty = in_pty(&args, &[]);
    assert_eq!(tty.code, 75, "{}", tty.stdout);
    assert!(tty.stdout.contains("\x1b[1;31mmissive: "), "{}", tty.stdout);
    assert!(
        tty.stdout
            .contains("\x1b[1;33mmissive: warning: --insecure"),
        "{}",
        tty.stdout
    );
    let piped = Cmd::new(args).run();
    assert!(piped.stderr.starts_with("missive: warning"), "{piped}");
    assert!(!piped.all().contains(ESC), "{piped}");
    let no_color = in_pty(&args, &[("NO_COLOR", "yes")]);
    assert!(!no_color.stdout.contains(ESC), "{}", no_color.stdout);
}
