//! `missive serve --http`: the JSON API (shaped like Mailpit's) against a
//! running server that receives mail from `missive send` and swaks, its
//! safety rules, and the page in a real headless Chromium.

mod api;
mod browser;
mod safety;

use crate::support::*;

/// An HTML body with an inline image, a remote image and a script that
/// must never run.
pub(crate) fn hostile_html(remote: &str) -> String {
    format!(
        "<html><body><h1 id=\"hi\">Hello from HTML</h1>\
         <p>An <b>important</b> message &amp; a logo:</p><img id=\"logo\" src=\"cid:logo.png\">\
         <img id=\"remote\" src=\"{remote}\">\
         <script>document.body.appendChild(document.createElement('p')).id = 'script-ran';\
         parent.document.title = 'pwned';\
         fetch('/api/v1/messages', {{ method: 'DELETE' }});</script></body></html>"
    )
}

/// A small PNG (32x32, a blue square).
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfc, 0x18, 0xed,
    0xa3, 0x00, 0x00, 0x00, 0x31, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0x4f, 0x63, 0xc0,
    0x30, 0x6a, 0x01, 0x49, 0x16, 0xa8, 0x84, 0x1d, 0xa7, 0x0a, 0x1a, 0xb5, 0x60, 0xd4, 0x82, 0x51,
    0x0b, 0x46, 0x2d, 0x18, 0xb5, 0x60, 0xd4, 0x82, 0x51, 0x0b, 0x46, 0x2d, 0x18, 0xea, 0x16, 0x8c,
    0x36, 0x1d, 0x07, 0xc4, 0x02, 0x00, 0x49, 0x90, 0x0d, 0x79, 0xa7, 0x6b, 0xf6, 0x9b, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Files for a rich message: the HTML, `logo.png` (inline) and a PDF-ish
/// attachment whose name tries to climb out of the download folder.
pub(crate) struct Rich {
    pub _dir: TempDir,
    pub html: std::path::PathBuf,
    pub logo: std::path::PathBuf,
    pub report: std::path::PathBuf,
}

pub(crate) fn rich(remote: &str) -> Rich {
    let dir = TempDir::new("webui");
    let html = dir.join("body.html");
    std::fs::write(&html, hostile_html(remote)).unwrap();
    let logo = dir.join("logo.png");
    std::fs::write(&logo, PNG).unwrap();
    let report = dir.join("report.pdf");
    std::fs::write(&report, b"%PDF-1.4 not really\n").unwrap();
    Rich {
        _dir: dir,
        html,
        logo,
        report,
    }
}

/// `missive send` of a message with text, HTML, an inline image and an
/// attachment, over STARTTLS with AUTH PLAIN as `u`.
pub(crate) fn send_rich(web: &Web, to: &str, subject: &str, remote: &str) -> Rich {
    let r = rich(remote);
    let attach = format!("{};name=../../etc/Bericht Ü.pdf", r.report.display());
    web.send(&[
        "--user",
        "u",
        "--password-env",
        "WEB_TEST_PW",
        "--auth",
        "plain",
        "--from",
        "Alice Example <alice@x.test>",
        "--to",
        to,
        "--bcc",
        "hidden@y.test",
        "--subject",
        subject,
        "--body",
        "plain text body",
        "--html-file",
        &r.html.display().to_string(),
        "--inline",
        &r.logo.display().to_string(),
        "--attach",
        &attach,
    ]);
    r
}
