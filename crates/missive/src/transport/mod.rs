//! The thin I/O shell around the protocol core: sockets and Happy Eyeballs
//! ([`net`]), proxies ([`proxy`]: SOCKS5, HTTP CONNECT), rustls ([`tls`]; DANE's TLSA check in [`dane`]), the session that drives
//! [`missive_smtp::Client`] with timeouts ([`session`]), and the `-v`
//! transcript.

mod body;
pub(crate) mod dane;
pub(crate) mod hostname;
pub(crate) mod net;
pub(crate) mod proxy;
pub(crate) mod session;
pub(crate) mod tls;
pub(crate) mod transcript;
