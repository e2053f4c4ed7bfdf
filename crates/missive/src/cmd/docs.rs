//! `missive completions SHELL` (clap_complete) and `missive man`
//! (clap_mangen): generated from the command line's own definition, so
//! they never drift from it.

use std::io::Write;
use std::path::Path;

use crate::cli::{self, CompletionsArgs, ManArgs};
use crate::error::{AppError, Result};

pub(super) fn completions(a: CompletionsArgs) -> Result<()> {
    let mut cmd = cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(a.shell, &mut cmd, "missive", &mut out);
    out.flush().map_err(io)
}

/// Every page: missive(1), then missive-send(1), missive-probe(1), … (and
/// the subcommands' own subcommands: missive-account-add(1), …).
pub(super) fn man(a: ManArgs) -> Result<()> {
    let mut root = cli::command();
    root.build();
    let mut pages = Vec::new();
    collect(&root, &mut pages);
    match &a.dir {
        None => {
            let mut out = std::io::stdout().lock();
            for (_, page) in &pages {
                out.write_all(page).map_err(io)?;
            }
            out.flush().map_err(io)
        }
        Some(dir) => write_pages(dir, &pages),
    }
}

/// A built command's subcommands are named `missive-send`, `missive-account-add`, ….
fn collect(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut buf = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(cmd.clone()).render(&mut buf);
    pages.push((format!("{name}.1"), buf));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        collect(sub, pages);
    }
}

fn write_pages(dir: &Path, pages: &[(String, Vec<u8>)]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::Io(format!("cannot create {}: {e}", dir.display())))?;
    for (name, page) in pages {
        let path = dir.join(name);
        std::fs::write(&path, page)
            .map_err(|e| AppError::Io(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn io(e: std::io::Error) -> AppError {
    AppError::Io(format!("writing to standard output: {e}"))
}
