//! SASL for SMTP AUTH (RFC 4954): the client side of PLAIN (RFC 4616),
//! LOGIN, CRAM-MD5 (RFC 2195), XOAUTH2 and OAUTHBEARER (RFC 7628).
//!
//! Everything here handles secrets: [`Secret`] never prints its content, and
//! the client state machine shows AUTH lines only as `<redacted>`.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};

use crate::capabilities::Mechanism;

/// A password or token. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the client proves its identity with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (PLAIN, LOGIN, CRAM-MD5).
    Password { user: String, password: Secret },
    /// A user name and OAuth2 bearer token (XOAUTH2, OAUTHBEARER).
    Token { user: String, token: Secret },
}

impl Credentials {
    pub fn user(&self) -> &str {
        match self {
            Credentials::Password { user, .. } | Credentials::Token { user, .. } => user,
        }
    }

    fn secret(&self) -> &str {
        match self {
            Credentials::Password { password: s, .. } | Credentials::Token { token: s, .. } => {
                s.expose()
            }
        }
    }

    /// Whether `mechanism` can carry these credentials.
    pub fn fits(&self, mechanism: &Mechanism) -> bool {
        match self {
            Credentials::Password { .. } => matches!(
                mechanism,
                Mechanism::Plain | Mechanism::Login | Mechanism::CramMd5
            ),
            Credentials::Token { .. } => mechanism.uses_token(),
        }
    }
}

/// Picks the mechanism `auto` uses: the best one offered that fits the
/// credentials. PLAIN before LOGIN (one round trip, UTF-8 safe); CRAM-MD5
/// last, since it needs the password's plain form on the server and is only
/// worth it where TLS is absent, which missive refuses by default anyway.
pub fn choose(offered: &[Mechanism], creds: &Credentials) -> Option<Mechanism> {
    let order = [
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
    ];
    order
        .into_iter()
        .find(|m| offered.contains(m) && creds.fits(m))
}

/// One SASL exchange in progress.
#[derive(Debug)]
pub struct SaslClient {
    mechanism: Mechanism,
    creds: Credentials,
    host: String,
    port: u16,
    step: u8,
    /// The server sent an error challenge (XOAUTH2/OAUTHBEARER); its decoded text.
    error_challenge: Option<String>,
}

impl SaslClient {
    /// `host` and `port` are the server's, for OAUTHBEARER's GS2 header.
    pub fn new(mechanism: Mechanism, creds: Credentials, host: &str, port: u16) -> SaslClient {
        SaslClient {
            mechanism,
            creds,
            host: host.to_string(),
            port,
            step: 0,
            error_challenge: None,
        }
    }

    pub fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// The initial response (already base64) for the AUTH command, if the mechanism has one.
    pub fn initial_response(&mut self) -> Option<String> {
        let user = self.creds.user();
        let secret = self.creds.secret();
        let raw = match self.mechanism {
            Mechanism::Plain => format!("\0{user}\0{secret}"),
            Mechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {secret}\x01\x01"),
            Mechanism::OAuthBearer => format!(
                "n,a={},\x01host={}\x01port={}\x01auth=Bearer {secret}\x01\x01",
                gs2_escape(user),
                self.host,
                self.port
            ),
            _ => return None,
        };
        self.step = 1;
        Some(B64.encode(raw))
    }

    /// Answers a `334` challenge (its text, base64). The answer is base64 and
    /// goes on a line of its own.
    pub fn respond(&mut self, challenge: &str) -> Result<String, crate::Error> {
        let decoded = B64.decode(challenge.trim()).unwrap_or_default();
        self.step += 1;
        match self.mechanism {
            Mechanism::Login => {
                let prompt = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
                let answer =
                    if prompt.contains("pass") || (self.step > 1 && !prompt.contains("user")) {
                        self.creds.secret()
                    } else {
                        self.creds.user()
                    };
                Ok(B64.encode(answer))
            }
            Mechanism::CramMd5 => {
                let mut mac = Hmac::<md5::Md5>::new_from_slice(self.creds.secret().as_bytes())
                    .expect("HMAC takes any key length");
                mac.update(&decoded);
                let digest: String = mac
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                Ok(B64.encode(format!("{} {digest}", self.creds.user())))
            }
            // A 334 after the initial response is the server's error report
            // (RFC 7628 §3.2.3; Google's and Microsoft's XOAUTH2 do the same).
            // OAUTHBEARER answers with %x01, XOAUTH2 with an empty line; the
            // server then sends the failure reply.
            Mechanism::XOAuth2 | Mechanism::OAuthBearer => {
                self.error_challenge = Some(String::from_utf8_lossy(&decoded).into_owned());
                Ok(if self.mechanism == Mechanism::OAuthBearer {
                    B64.encode("\x01")
                } else {
                    String::new()
                })
            }
            // PLAIN sent everything up front; a challenge means an empty one
            // (servers that ignore initial responses): send it again.
            Mechanism::Plain => {
                let user = self.creds.user();
                Ok(B64.encode(format!("\0{user}\0{}", self.creds.secret())))
            }
            Mechanism::Other(ref name) => Err(crate::Error::Protocol(format!(
                "AUTH {name} is not supported"
            ))),
        }
    }

    /// The decoded error challenge of a token mechanism, if the server sent one.
    pub fn error_challenge(&self) -> Option<&str> {
        self.error_challenge.as_deref()
    }
}

/// RFC 5801 §4: `,` and `=` in the authzid are escaped as `=2C` and `=3D`.
fn gs2_escape(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(user: &str, pass: &str) -> Credentials {
        Credentials::Password {
            user: user.into(),
            password: Secret::new(pass),
        }
    }

    fn dec(s: &str) -> String {
        String::from_utf8(B64.decode(s).unwrap()).unwrap()
    }

    #[test]
    fn plain_utf8() {
        let mut s = SaslClient::new(
            Mechanism::Plain,
            pw("tester2@example.test", "päss wörd:€ 1"),
            "h",
            587,
        );
        let r = s.initial_response().unwrap();
        assert_eq!(dec(&r), "\0tester2@example.test\0päss wörd:€ 1");
    }

    #[test]
    fn login_follows_prompts() {
        let mut s = SaslClient::new(Mechanism::Login, pw("u", "p"), "h", 587);
        assert!(s.initial_response().is_none());
        assert_eq!(dec(&s.respond("VXNlcm5hbWU6").unwrap()), "u");
        assert_eq!(dec(&s.respond("UGFzc3dvcmQ6").unwrap()), "p");
    }

    #[test]
    fn cram_md5_rfc2195_example() {
        // RFC 2195 §2: user tim, secret tanstaaftanstaaf
        let mut s = SaslClient::new(Mechanism::CramMd5, pw("tim", "tanstaaftanstaaf"), "h", 587);
        let challenge = B64.encode("<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            dec(&s.respond(&challenge).unwrap()),
            "tim b913a602c7eda7a495b4e6e7334d3890"
        );
    }

    #[test]
    fn oauth_forms_and_error_challenge() {
        let creds = Credentials::Token {
            user: "a@b".into(),
            token: Secret::new("tok"),
        };
        let mut x = SaslClient::new(Mechanism::XOAuth2, creds.clone(), "smtp.x", 587);
        assert_eq!(
            dec(&x.initial_response().unwrap()),
            "user=a@b\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(x.respond(&B64.encode("{\"status\":\"401\"}")).unwrap(), "");
        assert_eq!(x.error_challenge(), Some("{\"status\":\"401\"}"));

        let mut o = SaslClient::new(Mechanism::OAuthBearer, creds, "smtp.x", 465);
        assert_eq!(
            dec(&o.initial_response().unwrap()),
            "n,a=a@b,\x01host=smtp.x\x01port=465\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(o.respond("e30=").unwrap(), "AQ==");
    }

    #[test]
    fn choose_fits_credentials() {
        let offered = vec![Mechanism::Login, Mechanism::Plain, Mechanism::XOAuth2];
        assert_eq!(choose(&offered, &pw("u", "p")), Some(Mechanism::Plain));
        let tok = Credentials::Token {
            user: "u".into(),
            token: Secret::new("t"),
        };
        assert_eq!(choose(&offered, &tok), Some(Mechanism::XOAuth2));
        assert_eq!(choose(&[Mechanism::CramMd5], &tok), None);
    }

    #[test]
    fn secret_never_prints() {
        let c = pw("u", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
