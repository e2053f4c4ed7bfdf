//! missive's integration tests, in one test binary (as ripgrep's): one module
//! per area, and `support` for what they share (running the binary, the
//! testbed, scripted servers). Most tests run the real `missive` binary;
//! those that need the testbed (`testbed/`) are skipped when it is not
//! running, unless MISSIVE_TESTBED is set.

#[macro_use]
mod support;

mod accounts;
mod bulk;
mod compose;
mod direct;
mod everyday;
mod fault_matrix;
mod faults;
mod hardening;
mod hints;
mod mailer;
mod mx_command;
mod oauth;
mod outbox;
mod presets_probe;
mod readme;
mod secrets;
mod sendmail;
mod serve;
mod settings;
mod submission;
mod support_checks;
mod trust;
mod webui;
