//! Everyday use (issue 15): the default sender, the sendmail log, shell
//! completions and the man page, proxies, `--quit-after`, progress, colour,
//! `-q` and `--version`.

mod from;
mod docs;
mod quiet;
mod colour;
mod quit_after;
mod proxy;
mod log;
mod progress;
