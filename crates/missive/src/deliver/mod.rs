//! Delivery: the [`Mailer`] that sends a [`Mail`](crate::Mail) along a
//! [`Route`] (a relay, with sessions reused and pooled; or each domain's MX
//! hosts) and returns an [`Outcome`] per message, one result per recipient.

use std::path::PathBuf;
use std::time::Duration;

use missive_smtp::client::TlsMode;
use missive_smtp::Mechanism;
use rustls::pki_types::CertificateDer;

use crate::error::Result;
use crate::secrets::Login;
use crate::transport::net::ServerAddr;
use crate::transport::proxy::Proxy;

mod anchors;
mod batch;
pub mod blocking;
mod dane;
mod diagnose;
mod direct;
pub(crate) mod dns;
mod engine;
mod mailer;
pub(crate) mod mta_sts;
pub(crate) mod mx;
mod outcome;
mod relay;

pub use crate::transport::session::QuitAfter;
pub(crate) use anchors::Anchors;
pub use batch::Batched;
pub(crate) use dane::{host_dane, HostDane};
pub use diagnose::Diagnosis;
pub use mailer::Mailer;
pub use outcome::{Attempt, Hop, Outcome, RecipientOutcome, Status};

/// Where mail goes.
#[derive(Debug, Clone)]
// One route per mailer: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Route {
    /// Through one submission server or relay.
    Relay(Relay),
    /// Straight to each recipient domain's MX hosts (RFC 5321 §5.1).
    Direct(Direct),
}

/// A submission server or relay.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Its name (verified in its certificate) and port.
    pub server: ServerAddr,
    /// How TLS is used.
    pub tls: TlsMode,
    /// Who logs in (`None`: no AUTH).
    pub login: Option<Login>,
    /// The SASL mechanism; `None`: the best offered one that fits the login.
    pub mechanism: Option<Mechanism>,
    /// Permit AUTH over a connection that is not encrypted.
    pub allow_plaintext_auth: bool,
}

impl Relay {
    /// `HOST[:PORT]` (port 587 by default): implicit TLS on port 465,
    /// required STARTTLS elsewhere, no login.
    pub fn new(server: &str) -> Result<Relay> {
        let server = ServerAddr::parse(server, 587)?;
        let tls = match server.port {
            465 => TlsMode::Implicit,
            _ => TlsMode::StartTls,
        };
        Ok(Relay {
            server,
            tls,
            login: None,
            mechanism: None,
            allow_plaintext_auth: false,
        })
    }

    /// Logs in as `login`.
    pub fn login(mut self, login: Login) -> Relay {
        self.login = Some(login);
        self
    }

    /// Uses TLS this way.
    pub fn tls(mut self, tls: TlsMode) -> Relay {
        self.tls = tls;
        self
    }
}

/// Direct delivery to MX hosts.
#[derive(Debug, Clone)]
pub struct Direct {
    /// A DNS server, `IP[:PORT]`, instead of the system's.
    pub dns_server: Option<String>,
    /// The port of the MX hosts (25).
    pub mx_port: u16,
    /// DNSKEY records to validate DNSSEC against (DANE, RFC 7672), or
    /// `none`. `None`: the IANA root keys with the system's DNS; no
    /// validation (so no DANE) with `dns_server`.
    pub dnssec_trust_anchor: Option<PathBuf>,
    /// `Opportunistic` (as MTAs do) or `StartTls` (required).
    pub tls: TlsMode,
    /// Connections open at once, over all domains.
    pub connections: usize,
    /// Connections open at once to one domain (a domain with more than
    /// 100 recipients gets one transaction for each 100).
    pub connections_per_domain: usize,
}

/// The default deadline of one message, before its allowance for size.
pub const DEADLINE: Duration = Duration::from_secs(600);
/// The default deadline grows by a second for each this many octets of the
/// message (64 KiB/s, about 0.5 Mbit/s), so a large attachment on a slow
/// uplink is not cut off by a deadline meant for tarpits.
pub const DEADLINE_OCTETS_PER_SEC: u64 = 64 * 1024;
/// The default limit of connections at once in direct delivery.
pub const DIRECT_CONNECTIONS: usize = 50;
/// The default limit of connections at once to one domain.
pub const DIRECT_CONNECTIONS_PER_DOMAIN: usize = 4;

impl Default for Direct {
    fn default() -> Self {
        Direct {
            dns_server: None,
            mx_port: 25,
            dnssec_trust_anchor: None,
            tls: TlsMode::Opportunistic,
            connections: DIRECT_CONNECTIONS,
            connections_per_domain: DIRECT_CONNECTIONS_PER_DOMAIN,
        }
    }
}

/// Which certificates are trusted.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// More CA certificates (PEM) on top of the system's.
    pub cafile: Option<PathBuf>,
    /// Do not fail on certificate problems (they are still recorded). Never the default.
    pub insecure: bool,
    /// Trust only `extra_roots` and `cafile`, not the system store.
    pub no_system_roots: bool,
    /// More trust anchors, already parsed.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

/// Everything a [`Mailer`] needs.
#[derive(Debug, Clone)]
pub struct MailerOptions {
    /// Where mail goes.
    pub route: Route,
    /// Which certificates are trusted.
    pub trust: Trust,
    /// The EHLO name (default: the host's FQDN, else an address literal).
    pub ehlo: Option<String>,
    /// An upper bound on every network wait.
    pub timeout: Option<Duration>,
    /// How long one message may take, from its connection (or the reuse of
    /// an idle session) to its last reply, relay or direct: recipients not
    /// accepted by then are a temporary failure, so a server that answers
    /// just within each timeout cannot hold the command for hours. `None`:
    /// [`DEADLINE`] plus a second per [`DEADLINE_OCTETS_PER_SEC`] of message.
    pub deadline: Option<Duration>,
    /// Use BDAT (CHUNKING) when the server offers it.
    pub chunking: bool,
    /// Relay sessions open at once (concurrent sends from several tasks).
    pub connections: usize,
    /// A session is closed and replaced after this many messages.
    pub max_messages_per_connection: usize,
    /// The SMTP transcript on stderr: 0 none, 1 the conversation, 2 the body too.
    pub verbosity: u8,
    /// Every connection goes through this proxy (SOCKS5 or HTTP CONNECT).
    pub proxy: Option<Proxy>,
    /// A progress bar on stderr while a message of at least this many
    /// octets is sent (`None`: never; the command line sets it on a terminal).
    pub progress_over: Option<u64>,
}

impl MailerOptions {
    /// The deadline of a message of `size` octets.
    pub fn deadline_for(&self, size: u64) -> Duration {
        self.deadline
            .unwrap_or(DEADLINE + Duration::from_secs(size / DEADLINE_OCTETS_PER_SEC))
    }

    /// Defaults for `route`: 4 connections, 100 messages each, BDAT when offered, no transcript.
    pub fn new(route: Route) -> MailerOptions {
        MailerOptions {
            route,
            trust: Trust::default(),
            ehlo: None,
            timeout: None,
            deadline: None,
            chunking: true,
            connections: 4,
            max_messages_per_connection: 100,
            verbosity: 0,
            proxy: None,
            progress_over: None,
        }
    }
}
