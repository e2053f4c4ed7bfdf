//! `--proxy`: SOCKS5 (microsocks) and HTTP CONNECT (tinyproxy) on loopback,
//! for submission, direct delivery and probe; the proxy's own log shows
//! each connection.

use crate::support::proxies::Proxy;
use crate::support::testbed::dns_server;
use crate::support::*;

const PW_VAR: &str = "PROXY_TEST_SMTP_PASSWORD";

/// `missive send` through the testbed's submission port, named `localhost`.
fn submit(tb: &Testbed, rcpt: &str) -> Cmd {
    let port = tb.var("SMTP_PORT_SUBMISSION");
    Cmd::new([
        "send",
        "--server",
        &format!("localhost:{port}"),
        "--cafile",
        tb.ca(),
        "--user",
        tb.user(),
        "--password-env",
        PW_VAR,
        "--to",
        rcpt,
        "--subject",
        "through a proxy",
        "--body",
        "hi",
    ])
    .env(PW_VAR, tb.pass())
}

#[test]
fn socks5_with_login_carries_a_submission() {
    let tb = testbed!();
    let Some(proxy) = Proxy::socks5(Some(("pxuser", "px-secret-51"))) else {
        return;
    };
    let port = tb.var("SMTP_PORT_SUBMISSION");
    // socks5: missive resolves localhost and gives the proxy the address.
    let rcpt = unique_addr("socks5");
    let out = submit(&tb, &rcpt)
        .args([
            "--proxy",
            &format!("socks5://pxuser:px-secret-51@127.0.0.1:{}", proxy.port),
        ])
        .arg("-v")
        .run();
    out.assert_code(0);
    assert!(
        out.stderr.contains("through the proxy socks5://127.0.0.1:"),
        "{out}"
    );
    out.assert_no_secret(&["px-secret-51"]);
    tb.wait_for_mail(&rcpt);
    assert!(
        proxy
            .log()
            .contains(&format!("connected to 127.0.0.1:{port}")),
        "{}",
        proxy.log()
    );
    // socks5h: the proxy is given the name; the password from MISSIVE_PROXY_PASSWORD.
    let rcpt = unique_addr("socks5h");
    let out = submit(&tb, &rcpt)
        .env(
            "MISSIVE_PROXY",
            format!("socks5h://pxuser@127.0.0.1:{}", proxy.port),
        )
        .env("MISSIVE_PROXY_PASSWORD", "px-secret-51")
        .run();
    out.assert_code(0);
    tb.wait_for_mail(&rcpt);
    assert!(
        proxy
            .log()
            .contains(&format!("connected to localhost:{port}")),
        "{}",
        proxy.log()
    );
    // A wrong proxy password: refused by the proxy, never shown.
    let out = submit(&tb, &unique_addr("socks5bad"))
        .args([
            "--proxy",
            &format!("socks5://pxuser:wrong-px-77@127.0.0.1:{}", proxy.port),
        ])
        .run();
    out.assert_code(77);
    assert!(
        out.one_error_line().contains("refused the login of pxuser"),
        "{out}"
    );
    out.assert_no_secret(&["wrong-px-77"]);
}

#[test]
fn http_connect_carries_submission_and_probe() {
    let tb = testbed!();
    let Some(proxy) = Proxy::http(Some(("hp", "hp-secret-3"))) else {
        return;
    };
    let port = tb.var("SMTP_PORT_SUBMISSION");
    let rcpt = unique_addr("httpproxy");
    let out = submit(&tb, &rcpt)
        .args([
            "--proxy",
            &format!("http://hp:hp-secret-3@127.0.0.1:{}", proxy.port),
        ])
        .run();
    out.assert_code(0);
    tb.wait_for_mail(&rcpt);
    let log = proxy.log();
    assert!(log.contains(&format!("CONNECT localhost:{port}")), "{log}");
    assert!(
        log.contains("Established connection to host \"localhost\""),
        "{log}"
    );

    // Without the login: the proxy's 407 is an authentication failure.
    let out = submit(&tb, &unique_addr("http407"))
        .args(["--proxy", &format!("http://127.0.0.1:{}", proxy.port)])
        .run();
    out.assert_code(77);
    assert!(out.one_error_line().contains("407"), "{out}");

    // probe through the proxy, the password from a command.
    let before = proxy.log().matches("CONNECT localhost").count();
    let out = Cmd::new([
        "probe",
        &format!("localhost:{port}"),
        "--cafile",
        tb.ca(),
        "--proxy",
        &format!("http://hp@127.0.0.1:{}", proxy.port),
        "--proxy-password-cmd",
        "echo hp-secret-3",
    ])
    .run();
    out.assert_code(0);
    assert!(out.stdout.contains("mx.testbed.test"), "{out}");
    assert_eq!(proxy.log().matches("CONNECT localhost").count(), before + 1);
}

#[test]
fn all_proxy_is_used_unless_no_proxy_names_the_host() {
    let tb = testbed!();
    let Some(proxy) = Proxy::socks5(None) else {
        return;
    };
    let url = format!("socks5h://127.0.0.1:{}", proxy.port);
    let rcpt = unique_addr("allproxy");
    submit(&tb, &rcpt)
        .env("ALL_PROXY", &url)
        .env("NO_PROXY", "")
        .run()
        .assert_code(0);
    tb.wait_for_mail(&rcpt);
    let through = proxy.log().lines().count();
    assert_eq!(through, 1, "{}", proxy.log());
    // NO_PROXY names the server: straight there. --proxy none: no proxy at all.
    let out = submit(&tb, &unique_addr("noproxy"))
        .env("ALL_PROXY", &url)
        .env("NO_PROXY", "example.org,localhost")
        .run();
    out.assert_code(0);
    let out = submit(&tb, &unique_addr("proxynone"))
        .env("ALL_PROXY", &url)
        .env("NO_PROXY", "")
        .args(["--proxy", "none"])
        .run();
    out.assert_code(0);
    assert_eq!(proxy.log().lines().count(), through, "{}", proxy.log());
}

#[test]
fn direct_delivery_goes_through_the_proxy() {
    let tb = testbed!(dns);
    let Some(proxy) = Proxy::socks5(None) else {
        return;
    };
    let rcpt = unique_addr("directproxy");
    let out = Cmd::new([
        "send",
        "--dns-server",
        &dns_server(),
        "--mx-port",
        tb.var("SMTP_PORT_MX"),
        "--from",
        "sender@client.test",
        "--to",
        &rcpt,
        "--body",
        "hi",
        "--proxy",
        &format!("socks5h://127.0.0.1:{}", proxy.port),
    ])
    .run();
    out.assert_code(0);
    tb.wait_for_mail(&rcpt);
    let log = proxy.log();
    assert!(
        log.contains(&format!(":{}", tb.var("SMTP_PORT_MX"))),
        "the MX connection went through the proxy: {log}"
    );
}
