//! `missive serve --fail-at`, `--drop-at`, `--delay` and friends, and what
//! the client and the Maildir make of them.

use super::*;

/// Sends one message to a server started with `serve_args`, to `to`.
fn send_with_fault(serve_args: &[&str], to: &[&str], client: &[&str]) -> (Server, Output) {
    let srv = Server::start(serve_args);
    let mut args = srv.send();
    args.extend(strings(&["--from", "alice@x.test", "--subject", "fault"]));
    for t in to {
        args.extend(strings(&["--to", t]));
    }
    args.extend(strings(&["--body", "fault injection\nlast line"]));
    args.extend(strings(client));
    let out = missive(&args, None);
    (srv, out)
}

#[test]
fn fault_greeting_554_is_permanent() {
    let (srv, out) = send_with_fault(&["--fail-at", "greeting=554"], &["bob@y.test"], &[]);
    out.assert_code(69);
    assert!(out.stderr.contains("554"), "{}", out);
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_ehlo_550_is_permanent() {
    let (srv, out) = send_with_fault(&["--fail-at", "ehlo=550"], &["bob@y.test"], &["-v"]);
    out.assert_code(69);
    assert!(out.stderr.contains("S: 550 "), "{}", out);
    // 550 is not "EHLO not understood": no fallback to HELO
    assert!(!out.stderr.contains("C: HELO"), "{}", out);
    assert!(!out.stderr.contains("C: MAIL"), "{}", out);
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_ehlo_500_falls_back_to_helo() {
    // The injected fault answers HELO too, so the session still fails.
    let (srv, out) = send_with_fault(&["--fail-at", "ehlo=500"], &["bob@y.test"], &["-v"]);
    out.assert_code(69);
    let ehlo = line_index(&out.stderr, "C: EHLO");
    let helo = line_index(&out.stderr, "C: HELO");
    assert!(ehlo < helo, "{}", out);
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_mail_451_is_temporary() {
    let (_srv, out) = send_with_fault(&["--fail-at", "mail=451"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr
            .contains("missive: bob@y.test refused: 451 4.0.0"),
        "{}",
        out
    );
}

#[test]
fn fault_rcpt_550_is_permanent() {
    let (_srv, out) = send_with_fault(
        &["--fail-at", "rcpt=550"],
        &["bob@y.test", "carol@y.test"],
        &[],
    );
    out.assert_code(69);
    for r in ["bob@y.test", "carol@y.test"] {
        assert!(
            out.stderr.contains(&format!("missive: {r} refused: 550")),
            "{}",
            out
        );
    }
}

#[test]
fn fault_rcpt_451_is_temporary() {
    let (_srv, out) = send_with_fault(&["--fail-at", "rcpt=451"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr.contains("missive: bob@y.test refused: 451"),
        "{}",
        out
    );
}

#[test]
fn fault_data_554_is_permanent() {
    let (srv, out) = send_with_fault(&["--fail-at", "data=554"], &["bob@y.test"], &[]);
    out.assert_code(69);
    assert!(out.stderr.contains("554"), "{}", out);
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn fault_end_of_data_451_is_temporary() {
    let (_srv, out) = send_with_fault(&["--fail-at", "end-of-data=451"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(
        out.stderr.contains("missive: bob@y.test refused: 451"),
        "{}",
        out
    );
}

#[test]
fn fault_end_of_data_554_is_permanent() {
    let (_srv, out) = send_with_fault(&["--fail-at", "end-of-data=554"], &["bob@y.test"], &[]);
    out.assert_code(69);
    assert!(out.stderr.contains("554"), "{}", out);
}

#[test]
fn fault_drop_at_data_is_a_lost_connection() {
    let (srv, out) = send_with_fault(&["--drop-at", "data"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(out.stderr.contains("closed the connection"), "{}", out);
    assert!(srv.messages().is_empty());
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn fault_drop_at_end_of_data_is_a_lost_connection() {
    let (srv, out) = send_with_fault(&["--drop-at", "end-of-data"], &["bob@y.test"], &[]);
    out.assert_code(75);
    assert!(out.stderr.contains("closed the connection"), "{}", out);
    // The message may have been stored before the drop (a lost
    // acknowledgement); if so it is complete.
    for m in srv.messages() {
        assert!(m
            .text()
            .ends_with("\r\n\r\nfault injection\r\nlast line\r\n"));
    }
    assert_eq!(srv.files_in("tmp"), 0);
}

#[test]
fn fault_delay_beyond_the_client_timeout() {
    let (srv, out) = send_with_fault(
        &["--delay", "rcpt=3000"],
        &["bob@y.test"],
        &["--timeout", "1"],
    );
    out.assert_code(75);
    assert!(out.stderr.contains("timed out"), "{}", out);
    assert!(
        out.elapsed < Duration::from_secs(10),
        "took {:?}",
        out.elapsed
    );
    assert!(srv.messages().is_empty());
}

#[test]
fn fault_delay_within_the_client_timeout() {
    let (srv, out) = send_with_fault(
        &["--delay", "end-of-data=1500"],
        &["bob@y.test"],
        &["--timeout", "10"],
    );
    out.assert_code(0);
    assert!(
        out.elapsed >= Duration::from_millis(1400),
        "the delay did not happen: {:?}",
        out.elapsed
    );
    assert_eq!(srv.messages().len(), 1);
}

#[test]
fn fault_reject_some_recipients() {
    let (srv, out) = send_with_fault(
        &["--reject-rcpt", "bad*@x.test=550"],
        &["good@x.test", "bad1@x.test", "carol@y.test"],
        &[],
    );
    out.assert_code(69);
    assert!(
        out.stderr
            .contains("missive: bad1@x.test refused: 550 5.1.1"),
        "{}",
        out
    );
    assert!(!out.stderr.contains("good@x.test refused"), "{}", out);
    assert!(!out.stderr.contains("carol@y.test refused"), "{}", out);
    assert!(out.stderr.contains("1 of 3 recipients refused"), "{}", out);
    let m = srv.one_message();
    assert_eq!(m.envelope_to, ["good@x.test", "carol@y.test"]);
    // the header keeps every To: the refusal concerns the envelope only
    assert!(m.header("To").unwrap().contains("bad1@x.test"));
}

#[test]
fn fault_reject_rcpt_temporary_and_permanent_mixed() {
    let (srv, out) = send_with_fault(
        &[
            "--reject-rcpt",
            "temp*@x.test=450",
            "--reject-rcpt",
            "perm*@x.test=550",
        ],
        &["temp1@x.test", "ok@x.test"],
        &[],
    );
    out.assert_code(75);
    assert!(
        out.stderr.contains("missive: temp1@x.test refused: 450"),
        "{}",
        out
    );
    assert_eq!(srv.one_message().envelope_to, ["ok@x.test"]);
    drop(srv);

    // permanent beats temporary
    let (_srv, out) = send_with_fault(
        &[
            "--reject-rcpt",
            "temp*@x.test=450",
            "--reject-rcpt",
            "perm*@x.test=550",
        ],
        &["temp1@x.test", "perm1@x.test", "ok@x.test"],
        &[],
    );
    out.assert_code(69);
}

/// A transaction the server refused must leave nothing in the Maildir.
fn assert_refused_transaction_not_stored(fault: &str, code: i32) {
    let (srv, out) = send_with_fault(&["--fail-at", fault], &["bob@y.test"], &["-v"]);
    out.assert_code(code);
    let stored = srv.messages();
    assert!(
        stored.is_empty(),
        "--fail-at {fault}: the client was refused, yet the server stored {} message(s): {:?}\n{}",
        stored.len(),
        stored
            .iter()
            .map(|m| (&m.envelope_to, m.message.len()))
            .collect::<Vec<_>>(),
        out
    );
}

#[test]
fn refused_mail_stores_nothing() {
    assert_refused_transaction_not_stored("mail=451", 75);
}

#[test]
fn refused_rcpt_stores_nothing() {
    assert_refused_transaction_not_stored("rcpt=550", 69);
}

#[test]
fn refused_end_of_data_stores_nothing() {
    assert_refused_transaction_not_stored("end-of-data=451", 75);
}
