//! A byte source that knows how far the parser has read.
//!
//! dicom-parser's stateful decoder reads with `read_exact` and no read-ahead of its own, so
//! counting the bytes it pulls gives the exact file position of the element it is at;
//! that is how the pixel data offset is found without reading the pixels.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::rc::Rc;

use flate2::bufread::DeflateDecoder;

/// The bytes of a data set: the plain file, or the inflated stream of a Deflated Explicit
/// VR Little Endian file.
pub(crate) enum Stream {
    Plain(BufReader<File>),
    Deflated(Box<DeflateDecoder<BufReader<File>>>),
}

/// Counts every byte handed to the parser; the count is shared so it can be read while
/// the parser holds the reader.
pub(crate) struct CountingReader {
    stream: Stream,
    position: Rc<Cell<u64>>,
    /// When set, every byte handed to the parser is also kept here.
    capture: Option<Vec<u8>>,
}

impl CountingReader {
    pub(crate) fn new(stream: Stream, start: u64) -> Self {
        CountingReader {
            stream,
            position: Rc::new(Cell::new(start)),
            capture: None,
        }
    }

    /// Starts keeping a copy of the bytes read from here on.
    pub(crate) fn start_capture(&mut self) {
        self.capture = Some(Vec::with_capacity(8 * 1024));
    }

    /// Stops keeping bytes and returns those kept.
    pub(crate) fn take_capture(&mut self) -> Option<Vec<u8>> {
        self.capture.take()
    }

    /// A handle on the position that stays readable while the parser borrows the reader.
    pub(crate) fn position_handle(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.position)
    }

    pub(crate) fn position(&self) -> u64 {
        self.position.get()
    }

    /// Moves forward `n` bytes without keeping them: a seek for plain files, a read into
    /// nothing for inflated streams.
    pub(crate) fn skip(&mut self, n: u64) -> io::Result<()> {
        // Skipped bytes are not part of any capture; a capture across a skip is void.
        self.capture = None;
        match &mut self.stream {
            Stream::Plain(reader) => {
                // Seek in steps that fit an i64; BufReader keeps its buffer when it can.
                let mut left = n;
                while left > 0 {
                    let step = left.min(i64::MAX as u64);
                    reader.seek_relative(step as i64)?;
                    left -= step;
                }
            }
            Stream::Deflated(reader) => {
                let copied = io::copy(&mut reader.by_ref().take(n), &mut io::sink())?;
                if copied < n {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
        }
        self.position.set(self.position.get() + n);
        Ok(())
    }
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.stream {
            Stream::Plain(reader) => reader.read(buf)?,
            Stream::Deflated(reader) => reader.read(buf)?,
        };
        self.position.set(self.position.get() + n as u64);
        if let Some(capture) = &mut self.capture {
            capture.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}
