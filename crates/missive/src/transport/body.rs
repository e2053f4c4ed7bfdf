//! The message body on its way out: read in bounded pieces, and cut into
//! BDAT chunks (RFC 3030), CRLF-normalised as they are read.

use std::io::Read;

use missive_smtp::data::{DataEncoder, DataStats};

use super::net;
use crate::error::{AppError, Result};

/// Size of the receive buffer and of each body chunk read from the message.
pub(super) const CHUNK: usize = 64 * 1024;

/// Octets in one BDAT chunk: large, so a big message needs few round trips.
const BDAT_CHUNK: usize = 1024 * 1024;

/// The message cut into BDAT chunks, CRLF-normalised, read as they are sent.
pub(super) struct BdatChunks {
    encoder: Option<DataEncoder>,
    input: Vec<u8>,
    /// Encoded octets read past the previous chunk.
    carry: Vec<u8>,
    pub(super) stats: Option<DataStats>,
}

impl BdatChunks {
    pub(super) fn new() -> BdatChunks {
        BdatChunks {
            encoder: Some(DataEncoder::for_bdat()),
            input: Vec::new(),
            carry: Vec::new(),
            stats: None,
        }
    }

    /// The next chunk and whether it is the last.
    pub(super) fn next(&mut self, body: &mut (dyn Read + Send)) -> Result<(Vec<u8>, bool)> {
        let mut out = std::mem::take(&mut self.carry);
        if self.input.is_empty() {
            self.input = vec![0; CHUNK];
        }
        while out.len() < BDAT_CHUNK {
            let Some(encoder) = self.encoder.as_mut() else {
                break;
            };
            let n = read_message(body, &mut self.input)?;
            if n == 0 {
                let encoder = self.encoder.take().expect("checked above");
                self.stats = Some(encoder.finish_chunked(&mut out));
                break;
            }
            encoder.encode(&self.input[..n], &mut out);
        }
        if out.len() > BDAT_CHUNK {
            self.carry = out.split_off(BDAT_CHUNK);
        }
        let last = self.encoder.is_none() && self.carry.is_empty();
        Ok((out, last))
    }
}

/// Reads the next piece of the message (retrying on EINTR); 0 at the end.
pub(super) fn read_message(body: &mut (dyn Read + Send), buf: &mut [u8]) -> Result<usize> {
    loop {
        match body.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(AppError::Io(format!(
                    "reading the message: {}",
                    net::short_io(&e)
                )))
            }
            Ok(n) => return Ok(n),
        }
    }
}
