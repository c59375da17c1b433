//! Reading a pixel value lazily from its source file.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::bufread::DeflateDecoder;

use super::{PixelLayout, PixelLocation, SourceStamp};
use crate::error::{FragmentError, Result, StoreError};

/// A stream over one pixel value, in little endian whatever the source's byte order.
pub struct PixelValueReader {
    inner: io::Take<Box<dyn Read + Send>>,
    swap_unit: usize,
    /// Bytes read from `inner` that do not yet make a whole swap unit.
    pending: Vec<u8>,
    /// Swapped bytes not yet handed out, from `ready_at` on.
    ready: Vec<u8>,
    ready_at: usize,
}

/// Opens the pixel value at `location` in `path`, after checking that the file is still the
/// one that was indexed (`stamp`).
pub fn open_pixel_value(
    path: &Path,
    location: &PixelLocation,
    stamp: SourceStamp,
) -> Result<PixelValueReader> {
    let io_err = |source| StoreError::Io {
        path: PathBuf::from(path),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let now = SourceStamp::of(&file.metadata().map_err(io_err)?);
    if now != stamp {
        return Err(StoreError::SourceChanged {
            path: path.into(),
            indexed_size: stamp.size,
            size: now.size,
        });
    }
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let inner: Box<dyn Read + Send> = match location.deflated_from {
        Some(start) => {
            reader.seek(SeekFrom::Start(start)).map_err(io_err)?;
            let mut inflated = DeflateDecoder::new(reader);
            let skipped = io::copy(&mut (&mut inflated).take(location.offset), &mut io::sink())
                .map_err(io_err)?;
            if skipped < location.offset {
                return Err(io_err(io::ErrorKind::UnexpectedEof.into()));
            }
            Box::new(inflated)
        }
        None => {
            reader
                .seek(SeekFrom::Start(location.offset))
                .map_err(io_err)?;
            Box::new(reader)
        }
    };
    let swap_unit = match location.layout {
        PixelLayout::Native { swap_unit, .. } => swap_unit.max(1) as usize,
        PixelLayout::Encapsulated { .. } => 1,
    };
    Ok(PixelValueReader {
        inner: inner.take(location.length),
        swap_unit,
        pending: Vec::new(),
        ready: Vec::new(),
        ready_at: 0,
    })
}

impl PixelValueReader {
    /// Reads the whole value into memory, failing if the file ends early.
    pub fn read_all(mut self, expected: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        out.try_reserve_exact(expected as usize)
            .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        self.read_to_end(&mut out)?;
        if (out.len() as u64) < expected {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(out)
    }
}

impl Read for PixelValueReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.swap_unit == 1 {
            return self.inner.read(buf);
        }
        if self.ready_at == self.ready.len() {
            self.refill()?;
        }
        let n = (self.ready.len() - self.ready_at).min(buf.len());
        buf[..n].copy_from_slice(&self.ready[self.ready_at..self.ready_at + n]);
        self.ready_at += n;
        Ok(n)
    }
}

impl PixelValueReader {
    /// Reads a chunk from the source and swaps its whole units into `ready`; a partial unit
    /// waits in `pending` for the next chunk.
    fn refill(&mut self) -> io::Result<()> {
        let unit = self.swap_unit;
        self.ready.clear();
        self.ready_at = 0;
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                // An odd tail cannot be swapped; pass it through as is.
                self.ready.append(&mut self.pending);
                return Ok(());
            }
            self.pending.extend_from_slice(&chunk[..n]);
            let whole = self.pending.len() / unit * unit;
            if whole > 0 {
                for word in self.pending[..whole].chunks_exact(unit) {
                    self.ready.extend(word.iter().rev());
                }
                self.pending.drain(..whole);
                return Ok(());
            }
        }
    }
}

/// Splits an encapsulated pixel value (as stored: items and the sequence delimiter) into
/// its basic offset table and fragments.
pub fn split_fragments(
    value: &[u8],
) -> std::result::Result<(Vec<u32>, Vec<Vec<u8>>), FragmentError> {
    let mut at = 0usize;
    let mut table = None;
    let mut fragments = Vec::new();
    while at + 8 <= value.len() {
        let group = u16::from_le_bytes([value[at], value[at + 1]]);
        let element = u16::from_le_bytes([value[at + 2], value[at + 3]]);
        let len = u32::from_le_bytes([value[at + 4], value[at + 5], value[at + 6], value[at + 7]])
            as usize;
        at += 8;
        match (group, element) {
            (0xFFFE, 0xE000) => {
                let end = at
                    .checked_add(len)
                    .filter(|end| *end <= value.len())
                    .ok_or(FragmentError::Overrun { at: at - 8 })?;
                let bytes = &value[at..end];
                if table.is_none() {
                    table = Some(
                        bytes
                            .chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect(),
                    );
                } else {
                    fragments.push(bytes.to_vec());
                }
                at = end;
            }
            (0xFFFE, 0xE0DD) => return Ok((table.unwrap_or_default(), fragments)),
            _ => {
                return Err(FragmentError::Unexpected {
                    group,
                    element,
                    at: at - 8,
                });
            }
        }
    }
    Err(FragmentError::NoDelimiter)
}
