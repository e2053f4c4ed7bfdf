//! Defect 10, the configuration file: a client secret needs a private file,
//! a file others can change is refused (its commands run through a shell),
//! and a parse error never shows a value.

use crate::support::*;

#[test]
fn a_client_secret_in_a_file_others_can_read_is_refused() {
    let home = Home::new("cfg-client-secret");
    home.config(
        "[accounts.a]\nuser = \"u@x.test\"\n[accounts.a.oauth]\nprovider = \"custom\"\nclient_id = \"id\"\nclient_secret = \"s3cret-client\"\ntoken_url = \"https://t.test/token\"\nauthorize_url = \"https://t.test/auth\"\n",
        0o644,
    );
    let out = home.cmd(&["config", "show", "--account", "a"]).run();
    assert_eq!(out.code, 78, "{out}");
    assert!(out.one_error_line().contains("chmod 600"), "{out}");
    out.assert_no_secret(&["s3cret-client"]);
}

#[test]
fn a_file_others_can_change_is_refused() {
    let home = Home::new("cfg-writable");
    home.config(
        "[accounts.a]\nserver = \"smtp.x.test\"\npassword_cmd = \"echo hi\"\n",
        0o664,
    );
    let out = home.cmd(&["config", "show", "--account", "a"]).run();
    assert_eq!(out.code, 78, "{out}");
    assert!(out.one_error_line().contains("chmod go-w"), "{out}");
}

#[test]
fn a_parse_error_shows_no_value() {
    let home = Home::new("cfg-parse");
    home.config("[accounts.a]\nkeyring = \"hunter2-inline\"\n", 0o600);
    let out = home.cmd(&["config", "show", "--account", "a"]).run();
    assert_eq!(out.code, 78, "{out}");
    out.assert_no_secret(&["hunter2-inline"]);
}
