//! The command line's options (clap). Everything here is turned into plain
//! settings ([`Overrides`], [`Draft`]) before anything runs.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::deliver::QuitAfter;
use crate::message::draft::Draft;
use crate::settings::{AuthSetting, Overrides, QueueWhen, TlsSetting};

/// Who to log in as, and where the secret comes from: never the command
/// line itself. Shared by `send`, `probe` and `account add`.
#[derive(Args, Debug, Default, Clone)]
pub struct Login {
    /// The user name to authenticate as.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Run this command and use the first line of its output as the password.
    #[arg(long, value_name = "CMD")]
    pub password_cmd: Option<String>,
    /// Run this command and use the first line of its output as an OAuth2 access token.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["password_env", "password_cmd"])]
    pub oauth_token_cmd: Option<String>,
}

/// TLS modes for `--tls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsArg {
    /// STARTTLS, required: stop if the server does not offer it or it fails.
    Starttls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
    /// STARTTLS when offered, else plaintext; certificate problems are reported, not fatal.
    Opportunistic,
    /// No TLS at all.
    None,
}

/// `--queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueueArg {
    Never,
    OnFailure,
    Always,
}

impl From<QueueArg> for QueueWhen {
    fn from(q: QueueArg) -> QueueWhen {
        match q {
            QueueArg::Never => QueueWhen::Never,
            QueueArg::OnFailure => QueueWhen::OnFailure,
            QueueArg::Always => QueueWhen::Always,
        }
    }
}

/// `--dsn-ret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DsnRet {
    Full,
    Hdrs,
}

impl DsnRet {
    pub fn wire(self) -> &'static str {
        match self {
            DsnRet::Full => "FULL",
            DsnRet::Hdrs => "HDRS",
        }
    }
}

/// SASL mechanisms for `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum AuthArg {
    #[default]
    Auto,
    Plain,
    Login,
    CramMd5,
    Xoauth2,
    Oauthbearer,
    None,
}

/// `--quit-after`: the stages of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuitAfterArg {
    /// The TCP (and implicit TLS) connection; nothing is read.
    Connect,
    /// The server's greeting.
    Greeting,
    /// The first EHLO reply.
    Ehlo,
    /// STARTTLS and the EHLO after it.
    Tls,
    /// AUTH.
    Auth,
    /// MAIL FROM (then RSET).
    Mail,
    /// MAIL FROM and every RCPT TO (then RSET).
    Rcpt,
}

impl From<QuitAfterArg> for QuitAfter {
    fn from(q: QuitAfterArg) -> QuitAfter {
        match q {
            QuitAfterArg::Connect => QuitAfter::Connect,
            QuitAfterArg::Greeting => QuitAfter::Greeting,
            QuitAfterArg::Ehlo => QuitAfter::Ehlo,
            QuitAfterArg::Tls => QuitAfter::Tls,
            QuitAfterArg::Auth => QuitAfter::Auth,
            QuitAfterArg::Mail => QuitAfter::Mail,
            QuitAfterArg::Rcpt => QuitAfter::Rcpt,
        }
    }
}

/// Where mail goes and how: shared by `send`, `sendmail` and `bulk`.
#[derive(Args, Debug, Default, Clone)]
pub struct RouteArgs {
    /// The submission server, HOST[:PORT] ([IPv6]:PORT); the port defaults to 587.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// Deliver straight to each recipient domain's MX hosts (the default when no --server is given).
    #[arg(long)]
    pub direct: bool,
    /// Direct delivery: use this DNS server, IP[:PORT], instead of the system's.
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns_server: Option<String>,
    /// Direct delivery: the port of the MX hosts (default 25; for tests and unusual networks).
    #[arg(long, value_name = "PORT")]
    pub mx_port: Option<u16>,
    /// Direct delivery: validate DNSSEC (for DANE) against the DNSKEY/DS records in this file; `iana`: the IANA root keys; `auto`: those if the DNS passes DNSSEC through, else none; `none`. Default: auto with the system's DNS, none with --dns-server.
    #[arg(long, value_name = "FILE|iana|auto|none")]
    pub dnssec_trust_anchor: Option<PathBuf>,
    /// Use this account of the configuration file.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Use a provider's settings: office365, outlook, gmail, aol, yahoo, icloud, fastmail, zoho, gmx, mailbox-org, proton-bridge.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The configuration file (default: $XDG_CONFIG_HOME/missive/config.toml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The sender: an address, or `Name <address>`.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    /// Do not use BDAT (CHUNKING) even when the server offers it.
    #[arg(long)]
    pub no_chunking: bool,
    /// The name to give in EHLO (default: the host's FQDN, else an address literal).
    #[arg(long, value_name = "NAME")]
    pub ehlo: Option<String>,
    /// Upper bound in seconds on every network wait (connect, each reply, each write).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// The longest one message may take, in seconds, connect to last reply, relay or direct (default 600, plus 1 s per 64 KiB of message); recipients not accepted by then are a temporary failure.
    #[arg(long, value_name = "SECS")]
    pub deadline: Option<u64>,
    /// Direct delivery only: the deadline, in seconds (the older name; wins over --deadline for direct delivery).
    #[arg(long, value_name = "SECS")]
    pub direct_deadline: Option<u64>,
    /// TLS mode (default: implicit on port 465, else starttls).
    #[arg(long, value_enum)]
    pub tls: Option<TlsArg>,
    /// Trust the CA certificates in this PEM file, besides the system's.
    #[arg(long, value_name = "PEM")]
    pub cafile: Option<PathBuf>,
    /// Do not verify the server's certificate (prints a warning; never the default).
    #[arg(long)]
    pub insecure: bool,
    /// The AUTH mechanism (default auto: the best offered one that fits the credentials).
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    #[command(flatten)]
    pub login: Login,
    /// Permit AUTH over a connection that is not encrypted.
    #[arg(long)]
    pub allow_plaintext_auth: bool,
    #[command(flatten)]
    pub proxy: ProxyArgs,
    /// Log a line per message (time, route, sender, each recipient's code,
    /// Message-ID, size, queue id, duration, exit code; never a secret) to
    /// this file, or to `syslog`.
    #[arg(long, value_name = "PATH|syslog")]
    pub log: Option<String>,
    /// Sign with DKIM using this private key (PEM, RSA or Ed25519, mode 0600); repeatable for several signatures.
    #[arg(long, value_name = "FILE")]
    pub dkim_key: Vec<PathBuf>,
    /// The DKIM selector (s=): once for all keys, or once per --dkim-key.
    #[arg(long, value_name = "S")]
    pub dkim_selector: Vec<String>,
    /// The DKIM signing domain (d=): once for all keys, or once per --dkim-key.
    #[arg(long, value_name = "DOMAIN")]
    pub dkim_domain: Vec<String>,
    /// REQUIRETLS (RFC 8689): send only over verified TLS to a server that offers REQUIRETLS, and ask every later hop for the same; exit 77 otherwise, nothing sent.
    #[arg(long)]
    pub require_tls: bool,
}

/// `--proxy`: shared by `send`, `sendmail` and `probe`.
#[derive(Args, Debug, Default, Clone)]
pub struct ProxyArgs {
    /// Connect through a proxy: socks5://HOST:PORT, socks5h://HOST:PORT (the
    /// proxy resolves names) or http://HOST:PORT (CONNECT); a login as
    /// USER:PASSWORD@ in the URL. `none`: no proxy, whatever ALL_PROXY says.
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Run this command for the proxy's password (when the URL names a user but no password).
    #[arg(long, value_name = "CMD")]
    pub proxy_password_cmd: Option<String>,
}

/// `missive send`.
#[derive(Args, Debug, Default, Clone)]
pub struct SendArgs {
    #[command(flatten)]
    pub route: RouteArgs,
    /// A recipient (repeatable, or comma-separated).
    #[arg(long, value_name = "ADDR")]
    pub to: Vec<String>,
    /// A copy recipient, shown in the Cc header.
    #[arg(long, value_name = "ADDR")]
    pub cc: Vec<String>,
    /// A blind copy recipient: in the envelope, never in the headers.
    #[arg(long, value_name = "ADDR")]
    pub bcc: Vec<String>,
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// The message text (else --body-file, else standard input when it is not a terminal).
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the message text from a file.
    #[arg(long, value_name = "PATH")]
    pub body_file: Option<PathBuf>,
    /// An HTML part (with a text part: multipart/alternative).
    #[arg(long, value_name = "HTML", conflicts_with = "html_file")]
    pub html: Option<String>,
    /// Read the HTML part from a file.
    #[arg(long, value_name = "PATH")]
    pub html_file: Option<PathBuf>,
    /// Attach a file (repeatable): PATH[;type=TYPE][;name=NAME].
    #[arg(long, value_name = "PATH")]
    pub attach: Vec<String>,
    /// An image the HTML shows inline as cid:NAME (repeatable): PATH[;type=TYPE][;name=NAME].
    #[arg(long, value_name = "PATH")]
    pub inline: Vec<String>,
    /// Add a header, 'Name: value' (repeatable); From, To, Cc, Subject, Date,
    /// Reply-To and Message-ID given this way replace the defaults.
    #[arg(long, value_name = "NAME: VALUE")]
    pub header: Vec<String>,
    /// The Reply-To address (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub reply_to: Vec<String>,
    /// Send a ready-made RFC 5322 message from a file (- for standard input) as it is.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["body", "body_file", "html", "html_file", "attach", "inline", "header", "subject", "reply_to"])]
    pub message: Option<String>,
    /// With --message: also send to the To, Cc and Bcc of the message.
    #[arg(short = 't', long, requires = "message")]
    pub read_recipients: bool,
    /// When to keep the message in the outbox: never (report a temporary
    /// failure), on-failure (queue recipients that failed temporarily), always
    /// (store it; `missive queue run` delivers it). Default: never (sendmail: on-failure).
    #[arg(long, value_enum, value_name = "WHEN")]
    pub queue: Option<QueueArg>,
    /// Add `TLS-Required: No` (RFC 8689 §5): the message asks to be delivered even where TLS cannot be had.
    #[arg(long, conflicts_with = "require_tls")]
    pub tls_required_no: bool,
    /// Print the envelope and the message exactly as it would be sent, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop cleanly after this stage (QUIT; after mail or rcpt, RSET first)
    /// and report how far the session got: no message is sent. `auth`
    /// answers "does my login work?".
    #[arg(long, value_enum, value_name = "STAGE", conflicts_with_all = ["dry_run", "sandbox"])]
    pub quit_after: Option<QuitAfterArg>,
    /// Shorthand for --quit-after ehlo.
    #[arg(long, conflicts_with_all = ["quit_after", "dry_run", "sandbox"])]
    pub ehlo_only: bool,
    /// DSN: when to notify (never, or success,failure,delay), if the server offers DSN.
    #[arg(long, value_name = "WHEN")]
    pub dsn_notify: Option<String>,
    /// DSN: return the full message or only its headers in a bounce.
    #[arg(long, value_enum, value_name = "full|hdrs")]
    pub dsn_ret: Option<DsnRet>,
    /// DSN: an envelope identifier returned in notifications.
    #[arg(long, value_name = "ID")]
    pub envid: Option<String>,
    /// Show the SMTP conversation on stderr (-vv: the message body too).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Send to a capture server started in-process on loopback (no account,
    /// no network): full STARTTLS, AUTH and PIPELINING; the message lands in --maildir.
    #[arg(long, conflicts_with_all = ["server", "cafile", "insecure", "user", "tls"])]
    pub sandbox: bool,
    /// With --sandbox: where the delivered message is written (a Maildir).
    #[arg(long, value_name = "DIR", requires = "sandbox")]
    pub maildir: Option<PathBuf>,
    /// Print nothing on success (set by the global -q, and by sendmail).
    #[arg(skip)]
    pub quiet: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    pub json: bool,
}

impl From<TlsArg> for TlsSetting {
    fn from(t: TlsArg) -> TlsSetting {
        match t {
            TlsArg::Starttls => TlsSetting::Starttls,
            TlsArg::Implicit => TlsSetting::Implicit,
            TlsArg::Opportunistic => TlsSetting::Opportunistic,
            TlsArg::None => TlsSetting::None,
        }
    }
}

impl From<AuthArg> for AuthSetting {
    fn from(a: AuthArg) -> AuthSetting {
        match a {
            AuthArg::Auto => AuthSetting::Auto,
            AuthArg::Plain => AuthSetting::Plain,
            AuthArg::Login => AuthSetting::Login,
            AuthArg::CramMd5 => AuthSetting::CramMd5,
            AuthArg::Xoauth2 => AuthSetting::Xoauth2,
            AuthArg::Oauthbearer => AuthSetting::Oauthbearer,
            AuthArg::None => AuthSetting::None,
        }
    }
}

impl RouteArgs {
    /// The command-line layer of the settings.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            server: self.server.clone(),
            direct: self.direct,
            dns_server: self.dns_server.clone(),
            mx_port: self.mx_port,
            dnssec_trust_anchor: self.dnssec_trust_anchor.clone(),
            account: self.account.clone(),
            preset: self.preset.clone(),
            config: self.config.clone(),
            from: self.from.clone(),
            ehlo: self.ehlo.clone(),
            timeout: self.timeout,
            deadline: self.deadline,
            direct_deadline: self.direct_deadline,
            tls: self.tls.map(Into::into),
            cafile: self.cafile.clone(),
            insecure: self.insecure,
            auth: self.auth.map(Into::into),
            user: self.login.user.clone(),
            password_env: self.login.password_env.clone(),
            password_cmd: self.login.password_cmd.clone(),
            oauth_token_cmd: self.login.oauth_token_cmd.clone(),
            allow_plaintext_auth: self.allow_plaintext_auth,
            no_chunking: self.no_chunking,
            proxy: self.proxy.proxy.clone(),
            proxy_password_cmd: self.proxy.proxy_password_cmd.clone(),
            log: self.log.clone(),
            queue: None,
            dkim_key: self.dkim_key.clone(),
            dkim_selector: self.dkim_selector.clone(),
            dkim_domain: self.dkim_domain.clone(),
            require_tls: self.require_tls,
        }
    }
}

impl SendArgs {
    /// `--quit-after STAGE` (or `--ehlo-only`).
    pub fn quit_after(&self) -> Option<QuitAfter> {
        match (self.quit_after, self.ehlo_only) {
            (Some(q), _) => Some(q.into()),
            (None, true) => Some(QuitAfter::Ehlo),
            (None, false) => None,
        }
    }

    /// The message and envelope as asked for (the sender is resolved later).
    pub fn draft(&self) -> Draft {
        Draft {
            from: self.route.from.clone(),
            user: self.route.login.user.clone(),
            logs_in: false,
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            subject: self.subject.clone(),
            body: self.body.clone(),
            body_file: self.body_file.clone(),
            html: self.html.clone(),
            html_file: self.html_file.clone(),
            attach: self.attach.clone(),
            inline: self.inline.clone(),
            header: self.header.clone(),
            reply_to: self.reply_to.clone(),
            message: self.message.clone(),
            read_recipients: self.read_recipients,
            sendmail: None,
            dsn_notify: self.dsn_notify.clone(),
            dsn_ret: self.dsn_ret.map(|r| r.wire().to_string()),
            envid: self.envid.clone(),
            default_from: None,
            tls_required_no: self.tls_required_no,
        }
    }
}
