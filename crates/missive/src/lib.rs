//! missive: send mail by speaking SMTP itself.
//!
//! The protocol lives in [`missive_smtp`] (sans-IO). This crate is the shell
//! around it and the application:
//! - [`net`], [`tls`], [`session`]: sockets, rustls, timeouts, the transcript;
//! - [`message`]: building the message;
//! - [`send`]: the `missive send` command, from options to per-recipient results;
//! - [`error`]: the error type and the sysexits codes, in one place.

pub mod cli;
pub mod credentials;
pub mod error;
pub mod hostname;
pub mod message;
pub mod net;
pub mod send;
pub mod session;
pub mod tls;
pub mod transcript;

pub use missive_smtp as smtp;
