//! missive: send mail by speaking SMTP itself.
//!
//! The protocol lives in [`missive_smtp`] (sans-IO). This crate is the shell
//! around it and the application:
//! - [`net`], [`tls`], [`session`]: sockets, rustls, timeouts, the transcript;
//! - [`message`]: building the message;
//! - [`send`]: the `missive send` command, from options to per-recipient results;
//! - [`serve`], [`maildir`], [`certs`], [`sandbox`]: the capture server and `--sandbox`;
//! - [`error`]: the error type and the sysexits codes, in one place.

pub mod account_cmd;
pub mod certs;
pub mod cli;
pub mod compose;
pub mod config;
pub mod credentials;
pub mod direct;
pub mod dns;
pub mod error;
pub mod hints;
pub mod hostname;
pub mod maildir;
pub mod message;
pub mod mx;
pub mod mx_cmd;
pub mod net;
pub mod oauth;
pub mod presets;
pub mod probe;
pub mod ready;
pub mod sandbox;
pub mod send;
pub mod sendmail;
pub mod serve;
pub mod serve_cmd;
pub mod session;
pub mod settings;
pub mod source;
pub mod tls;
pub mod transcript;

pub use missive_smtp as smtp;
