//! A message as a list of segments, read as a stream: small parts in memory,
//! files (attachments, ready-made messages) read and base64-encoded as the
//! message goes out. Memory stays bounded whatever the message size, the
//! exact size is known before sending (for SIZE), and the stream can be
//! opened again (one transaction per MX domain).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// One piece of a message on the wire (before DATA's dot-stuffing).
#[derive(Debug, Clone)]
pub enum Segment {
    /// Bytes as they are.
    Bytes(Vec<u8>),
    /// A file's bytes, base64-encoded in 76-column lines, each with CRLF.
    Base64File { path: PathBuf, len: u64 },
    /// A range of a file, as it is (a ready-made message's body).
    Raw {
        file: Arc<Spool>,
        offset: u64,
        len: u64,
    },
}

/// A file kept open for re-reading; deleted on drop when it is a temporary copy.
#[derive(Debug)]
pub struct Spool {
    pub path: PathBuf,
    temporary: bool,
}

impl Spool {
    pub fn existing(path: &Path) -> Spool {
        Spool {
            path: path.to_path_buf(),
            temporary: false,
        }
    }

    /// A new temporary file (mode 0600) that is removed when dropped.
    pub fn temporary() -> io::Result<(Spool, File)> {
        let mut rnd = [0u8; 8];
        getrandom::fill(&mut rnd).map_err(|e| io::Error::other(e.to_string()))?;
        let name: String = rnd.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("missive-{name}.eml"));
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = opts.open(&path)?;
        Ok((
            Spool {
                path,
                temporary: true,
            },
            file,
        ))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The length of `n` octets in base64 with a CRLF after every 76 characters.
pub fn base64_len(n: u64) -> u64 {
    let chars = n.div_ceil(3) * 4;
    chars + chars.div_ceil(76) * 2
}

impl Segment {
    pub fn len(&self) -> u64 {
        match self {
            Segment::Bytes(b) => b.len() as u64,
            Segment::Base64File { len, .. } => base64_len(*len),
            Segment::Raw { len, .. } => *len,
        }
    }

    /// A reader for the segment on its own ([`MessageReader`] reads bytes
    /// in memory in place and opens only files this way).
    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Segment::Bytes(b) => Box::new(io::Cursor::new(b.clone())),
            Segment::Base64File { path, .. } => Box::new(Base64Lines::new(File::open(path)?)),
            Segment::Raw { file, offset, len } => {
                let mut f = File::open(&file.path)?;
                f.seek(SeekFrom::Start(*offset))?;
                Box::new(f.take(*len))
            }
        })
    }
}

/// A whole message: segments in order, shared by its clones and readers
/// (opening a message copies nothing).
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub(crate) segments: Arc<Vec<Segment>>,
    /// The message has octets over 127 outside base64 (8BITMIME wanted).
    pub(crate) eight_bit: bool,
    /// Octets that CRLF normalisation adds on the wire (ready-made messages
    /// with LF line ends), counted in [`Message::size`].
    pub(crate) line_end_growth: u64,
}

impl Message {
    /// Octets of the message as it will be read (before dot-stuffing).
    pub fn size(&self) -> u64 {
        self.segments.iter().map(Segment::len).sum::<u64>() + self.line_end_growth
    }

    /// A fresh reader from the start.
    pub fn open(&self) -> MessageReader {
        MessageReader {
            segments: self.segments.clone(),
            next: 0,
            current: Current::Between,
        }
    }
}

/// Reads the segments one after the other, opening files as it reaches them.
pub struct MessageReader {
    segments: Arc<Vec<Segment>>,
    next: usize,
    current: Current,
}

/// Where a [`MessageReader`] is.
enum Current {
    /// Between segments: `next` is the one to start.
    Between,
    /// In segment `next - 1`, in memory, at this offset.
    Bytes(usize),
    /// In a file's segment.
    File(Box<dyn Read + Send>),
}

impl Read for MessageReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.current {
                Current::Bytes(at) => {
                    if let Some(Segment::Bytes(b)) = self.segments.get(self.next - 1) {
                        let n = buf.len().min(b.len() - *at);
                        buf[..n].copy_from_slice(&b[*at..*at + n]);
                        *at += n;
                        if n > 0 || buf.is_empty() {
                            return Ok(n);
                        }
                    }
                }
                Current::File(r) => {
                    let n = r.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        return Ok(n);
                    }
                }
                Current::Between => {}
            }
            let Some(seg) = self.segments.get(self.next) else {
                self.current = Current::Between;
                return Ok(0);
            };
            self.next += 1;
            self.current = match seg {
                Segment::Bytes(_) => Current::Bytes(0),
                _ => Current::File(seg.open()?),
            };
        }
    }
}

/// Base64 in 76-character lines: 57 input octets a line.
struct Base64Lines<R> {
    inner: R,
    input: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> Base64Lines<R> {
    fn new(inner: R) -> Self {
        Base64Lines {
            inner,
            input: vec![0; 57 * 1024],
            out: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// Fills `input` completely unless the file ends, so lines stay aligned.
    fn fill(&mut self) -> io::Result<usize> {
        let mut n = 0;
        while n < self.input.len() {
            match self.inner.read(&mut self.input[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl<R: Read> Read for Base64Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.out.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.fill()?;
            if n < self.input.len() {
                self.done = true;
            }
            self.out.clear();
            self.pos = 0;
            for line in self.input[..n].chunks(57) {
                let start = self.out.len();
                self.out.resize(start + line.len().div_ceil(3) * 4, 0);
                B64.encode_slice(line, &mut self.out[start..])
                    .map_err(io::Error::other)?;
                self.out.extend_from_slice(b"\r\n");
            }
            if self.out.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(m: &Message) -> Vec<u8> {
        let mut v = Vec::new();
        m.open().read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn base64_lines_and_exact_size() {
        let dir = std::env::temp_dir().join(format!("missive-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in [
            0usize,
            1,
            56,
            57,
            58,
            114,
            57 * 1024,
            57 * 1024 + 1,
            200_000,
        ] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            let path = dir.join(format!("f{n}"));
            std::fs::write(&path, &data).unwrap();
            let m = Message {
                segments: Arc::new(vec![
                    Segment::Bytes(b"head\r\n".to_vec()),
                    Segment::Base64File {
                        path,
                        len: n as u64,
                    },
                    Segment::Bytes(b"tail\r\n".to_vec()),
                ]),
                eight_bit: false,
                line_end_growth: 0,
            };
            let out = read_all(&m);
            assert_eq!(out.len() as u64, m.size(), "size for {n}");
            let text = String::from_utf8(out).unwrap();
            let body = &text["head\r\n".len()..text.len() - "tail\r\n".len()];
            assert!(body.split("\r\n").all(|l| l.len() <= 76));
            let joined: String = body.split("\r\n").collect();
            assert_eq!(B64.decode(joined).unwrap(), data);
            // opening again gives the same bytes
            assert_eq!(read_all(&m), text.as_bytes());
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn raw_range_and_temporary_spool() {
        let (spool, mut f) = Spool::temporary().unwrap();
        std::io::Write::write_all(&mut f, b"0123456789").unwrap();
        let path = spool.path.clone();
        let spool = Arc::new(spool);
        let m = Message {
            segments: Arc::new(vec![Segment::Raw {
                file: spool.clone(),
                offset: 3,
                len: 4,
            }]),
            eight_bit: false,
            line_end_growth: 0,
        };
        assert_eq!(read_all(&m), b"3456");
        drop(m);
        drop(spool);
        assert!(!path.exists(), "temporary spool not removed");
    }
}
