//! The recipients' CSV file (RFC 4180: quoted fields, embedded commas,
//! quotes and line breaks; UTF-8, a BOM tolerated), read row by row: a
//! file of any length needs the memory of one row.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use crate::error::{AppError, Result};

/// One data row: its number (1 = the first row after the header) and its values by column.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub number: usize,
    pub values: BTreeMap<String, String>,
}

/// The rows of a CSV file, streamed.
pub(crate) struct Rows {
    reader: csv::Reader<File>,
    record: csv::StringRecord,
    /// The header row's names.
    pub columns: Vec<String>,
    number: usize,
}

impl Rows {
    /// Opens `path` and reads its header row.
    pub fn open(path: &Path) -> Result<Rows> {
        let file = File::open(path).map_err(|e| {
            AppError::Io(format!(
                "--csv {}: {}",
                path.display(),
                crate::transport::net::short_io(&e)
            ))
        })?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(file);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(path, &e))?
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        if columns.iter().all(String::is_empty) {
            return Err(AppError::Data(format!(
                "--csv {}: no header row (the first row names the columns)",
                path.display()
            )));
        }
        Ok(Rows {
            reader,
            record: csv::StringRecord::new(),
            columns,
            number: 0,
        })
    }

    /// The next row, `None` at the end.
    pub fn next_row(&mut self, path: &Path) -> Option<Result<Row>> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Err(e) => Some(Err(csv_error(path, &e))),
            Ok(true) => {
                self.number += 1;
                let values = self
                    .columns
                    .iter()
                    .cloned()
                    .zip(self.record.iter().map(str::to_string))
                    .collect();
                Some(Ok(Row {
                    number: self.number,
                    values,
                }))
            }
        }
    }
}

fn csv_error(path: &Path, e: &csv::Error) -> AppError {
    let at = e
        .position()
        .map(|p| format!(" at line {}", p.line()))
        .unwrap_or_default();
    let why = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_string(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Io(io) => crate::transport::net::short_io(io),
        _ => e.to_string(),
    };
    AppError::Data(format!("--csv {}{at}: {why}", path.display()))
}
