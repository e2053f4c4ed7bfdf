//! Everyday use (issue 15): the default sender, the sendmail log, shell
//! completions and the man page, proxies, `--quit-after`, progress, colour,
//! `-q` and `--version`.

mod colour;
mod docs;
mod from;
mod log;
mod progress;
mod proxy;
mod quiet;
mod quit_after;
