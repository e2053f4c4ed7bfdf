//! The check before anything is sent: every row rendered and validated.
//!
//! Rendering a row (template, MIME, addresses, attachment paths) is CPU
//! work, and the check renders every row before the first message may
//! leave, so it runs on one thread a core: this thread reads the CSV (the
//! cheap part) and hands rows over in chunks through a bounded channel, so
//! memory stays that of a few chunks whatever the file's length. The
//! answer is the one a single pass would give: when rows are wrong, the
//! error of the first of them in the file.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use super::rows::{Row, Rows};
use super::template::Templates;
use super::{build, Job, Plan};
use crate::error::{AppError, Result};

/// Rows handed to a checking thread at once.
const CHUNK: usize = 128;

/// What the check found: the first row's message (DKIM-signed, shown for
/// confirmation) and the number of the last row; `None` for a file
/// without rows.
pub(super) fn check_rows(
    plan: &Plan,
    templates: &Templates,
    mut rows: Rows,
) -> Result<Option<(Job, usize)>> {
    let csv = plan.csv.as_path();
    // Only the first row is signed: a signature does not depend on whether
    // a row is valid, and signing reads the whole message, attachments
    // too, which the send does again.
    let first = match rows.next_row(csv) {
        None => return Ok(None),
        Some(row) => build(templates, plan, &row?, None, true)?,
    };
    let threads = super::render_threads();
    let failed = Failed::new();
    let (tx, rx) = mpsc::sync_channel::<Vec<Row>>(2 * threads);
    let rx = Mutex::new(rx);
    let last = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| check_chunks(plan, templates, &rx, &failed));
        }
        let last = read_chunks(&mut rows, csv, first.row, &tx, &failed);
        drop(tx);
        last
    });
    match failed.take() {
        Some(e) => Err(e),
        None => Ok(Some((first, last))),
    }
}

/// Reads the rows after `after` in chunks and hands them over, until the
/// end of the file, a CSV error (recorded) or a wrong row already found
/// before the rows still to come; the number of the last row read.
fn read_chunks(
    rows: &mut Rows,
    csv: &Path,
    after: usize,
    tx: &mpsc::SyncSender<Vec<Row>>,
    failed: &Failed,
) -> usize {
    let mut last = after;
    let mut chunk = Vec::with_capacity(CHUNK);
    while failed.first_row() > last {
        match rows.next_row(csv) {
            None => break,
            Some(Ok(row)) => {
                last = row.number;
                chunk.push(row);
                if chunk.len() == CHUNK && tx.send(std::mem::take(&mut chunk)).is_err() {
                    break;
                }
            }
            Some(Err(e)) => {
                // The row that did not parse is the one after the last read.
                failed.record(last + 1, e);
                break;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(chunk);
    }
    last
}

/// One checking thread: chunks until the channel closes, each row up to
/// the first wrong one found so far.
fn check_chunks(
    plan: &Plan,
    templates: &Templates,
    rx: &Mutex<mpsc::Receiver<Vec<Row>>>,
    failed: &Failed,
) {
    loop {
        let chunk = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(chunk) = chunk else { return };
        for row in chunk {
            if row.number > failed.first_row() {
                break;
            }
            if let Err(e) = build(templates, plan, &row, None, false) {
                failed.record(row.number, e);
                break;
            }
        }
    }
}

/// The first wrong row found, by its number in the file.
struct Failed {
    /// Its number (`usize::MAX` while none), read without the lock.
    row: AtomicUsize,
    error: Mutex<Option<(usize, AppError)>>,
}

impl Failed {
    fn new() -> Failed {
        Failed {
            row: AtomicUsize::new(usize::MAX),
            error: Mutex::new(None),
        }
    }

    fn first_row(&self) -> usize {
        self.row.load(Ordering::Acquire)
    }

    /// Keeps `e` when its row comes before any recorded.
    fn record(&self, row: usize, e: AppError) {
        if let Ok(mut slot) = self.error.lock() {
            if slot.as_ref().is_none_or(|(r, _)| row < *r) {
                *slot = Some((row, e));
                self.row.store(row, Ordering::Release);
            }
        }
    }

    fn take(self) -> Option<AppError> {
        self.error.into_inner().ok().flatten().map(|(_, e)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::ahead::tests::{fresh, plan};

    /// Checks a CSV of `n` good rows, with `bad` rows replaced.
    fn check(name: &str, n: usize, bad: &[(usize, &str)]) -> Result<Option<(Job, usize)>> {
        let dir = fresh(name);
        let plan = plan(&dir, 0, false, false);
        let mut csv = String::from("email,name\n");
        for i in 1..=n {
            match bad.iter().find(|(r, _)| *r == i) {
                Some((_, line)) => csv.push_str(line),
                None => csv.push_str(&format!("r{i}@example.test,Name {i}")),
            }
            csv.push('\n');
        }
        std::fs::write(&plan.csv, csv).unwrap();
        let templates = Templates::load(&plan.template, None, &[], &[]).unwrap();
        let got = check_rows(&plan, &templates, Rows::open(&plan.csv).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        got
    }

    fn message(r: Result<Option<(Job, usize)>>) -> String {
        r.err().expect("the check should fail").to_string()
    }

    #[test]
    fn good_rows_give_the_first_message_and_the_last_row() {
        let (first, last) = check("good", 1000, &[]).unwrap().unwrap();
        assert_eq!((first.row, last), (1, 1000));
        assert_eq!(first.to, "r1@example.test");
        assert!(check("empty", 0, &[]).unwrap().is_none());
    }

    #[test]
    fn the_first_wrong_row_in_the_file_is_the_one_named() {
        // Rows in different chunks fail; whichever thread finds one first,
        // the answer is the row a single pass would stop at.
        for round in 0..5 {
            let bad = [
                (2_000, "not an address,Late"),
                (700 + round, "also not an address,Early"),
                (1_500, "nor this,Middle"),
            ];
            let e = message(check(&format!("order-{round}"), 3_000, &bad));
            assert!(e.contains(&format!("row {}:", 700 + round)), "{e}");
        }
        // The first row is checked too.
        let e = message(check("first", 10, &[(1, "nobody,First")]));
        assert!(e.contains("row 1:"), "{e}");
    }

    #[test]
    fn the_earliest_row_recorded_wins_whatever_the_order() {
        let failed = Failed::new();
        assert_eq!(failed.first_row(), usize::MAX);
        for row in [500, 100, 300] {
            failed.record(row, AppError::Data(format!("row {row}")));
        }
        assert_eq!(failed.first_row(), 100);
        assert_eq!(failed.take().unwrap().to_string(), "row 100");
    }

    #[test]
    fn a_csv_error_and_a_wrong_row_before_it_name_the_row_and_after_it_the_csv() {
        let broken = "r@example.test,a,too many fields";
        let e = message(check(
            "row-first",
            2_000,
            &[(300, "nobody,X"), (1_200, broken)],
        ));
        assert!(e.contains("row 300:"), "{e}");
        let e = message(check(
            "csv-first",
            2_000,
            &[(1_200, "nobody,X"), (300, broken)],
        ));
        assert!(e.contains("at line 301") && e.contains("3 fields"), "{e}");
    }
}
