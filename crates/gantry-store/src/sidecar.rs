//! The pixel sidecar: an append-only file of pixel records (`gantry_pixels.bin`).
//!
//! A record is a 20-byte header (magic `GPX1`, payload length as u64, CRC-32 of the
//! payload, CRC-32 of the first 16 header bytes) and the payload. The database points at
//! records by address only after they are synced, so a crash mid-append leaves a torn tail
//! that no address refers to; [`PixelSidecar::open`] cuts it off, and every read checks
//! magic, length and both checksums, so a wrong address is an error, never wrong pixels.

use std::fs::File;
#[cfg(test)]
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StoreError};

const MAGIC: [u8; 4] = *b"GPX1";
const HEADER_LEN: u64 = 20;

/// Where a record lives in the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SidecarAddress {
    /// Offset of the record header.
    pub offset: u64,
    /// Payload length in bytes.
    pub length: u64,
}

/// An open pixel sidecar file.
#[derive(Debug)]
pub struct PixelSidecar {
    path: PathBuf,
    file: File,
    end: u64,
}

impl PixelSidecar {
    /// Opens or creates the sidecar at `path`, dropping any torn record at its end.
    pub fn open(path: impl AsRef<Path>) -> Result<PixelSidecar> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(mode) = crate::private::others_can_access(&path).map_err(io_err)? {
            return Err(StoreError::NotPrivate { path, mode });
        }
        let file = crate::private::open_private(&path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        let mut end = 0u64;
        while end + HEADER_LEN <= file_len {
            let mut header = [0u8; HEADER_LEN as usize];
            file.read_exact_at(&mut header, end).map_err(io_err)?;
            match parse_header(&header) {
                Some((length, _)) if end + HEADER_LEN + length <= file_len => {
                    end += HEADER_LEN + length;
                }
                _ => break,
            }
        }
        if end < file_len {
            file.set_len(end).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        Ok(PixelSidecar { path, file, end })
    }

    /// The sidecar file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the file (all complete records).
    pub fn len(&self) -> u64 {
        self.end
    }

    /// Whether the sidecar holds no record.
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// Appends a record; it is durable only after [`PixelSidecar::sync`].
    pub fn append(&mut self, payload: &[u8]) -> Result<SidecarAddress> {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..4].copy_from_slice(&MAGIC);
        header[4..12].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        header[12..16].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
        let header_crc = crc32fast::hash(&header[..16]);
        header[16..20].copy_from_slice(&header_crc.to_le_bytes());
        let offset = self.end;
        let io_err = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all_at(&header, offset).map_err(io_err)?;
        self.file
            .write_all_at(payload, offset + HEADER_LEN)
            .map_err(io_err)?;
        self.end = offset + HEADER_LEN + payload.len() as u64;
        start_writeback(&self.file, offset, HEADER_LEN + payload.len() as u64);
        Ok(SidecarAddress {
            offset,
            length: payload.len() as u64,
        })
    }

    /// Makes every appended record durable.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Reads the record at `address`, verifying it.
    pub fn read(&self, address: SidecarAddress) -> Result<Vec<u8>> {
        let bad = |detail: String| StoreError::Sidecar {
            path: self.path.clone(),
            offset: address.offset,
            detail,
        };
        if address.offset + HEADER_LEN + address.length > self.end {
            return Err(bad(format!(
                "record of {} bytes lies beyond the end of the file ({} bytes)",
                address.length, self.end
            )));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        self.file
            .read_exact_at(&mut header, address.offset)
            .map_err(|e| bad(e.to_string()))?;
        let (length, payload_crc) =
            parse_header(&header).ok_or_else(|| bad("no valid record header here".into()))?;
        if length != address.length {
            return Err(bad(format!(
                "record holds {length} bytes, the address expects {}",
                address.length
            )));
        }
        let mut payload = vec![0u8; length as usize];
        self.file
            .read_exact_at(&mut payload, address.offset + HEADER_LEN)
            .map_err(|e| bad(e.to_string()))?;
        if crc32fast::hash(&payload) != payload_crc {
            return Err(bad("payload checksum mismatch".into()));
        }
        Ok(payload)
    }
}

/// Asks the kernel to start writing a range to disk now, without waiting: the sync that
/// makes a batch durable then finds most of its data already written, and other threads'
/// work overlaps the disk's.
#[cfg(target_os = "linux")]
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor and a range inside the file; the call only
    // schedules writeback and reports errors through its return value, which a later
    // fdatasync reports again if it matters.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Asks the kernel to start writing a range to disk (a no-op off Linux).
#[cfg(not(target_os = "linux"))]
pub fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Length and payload CRC of a valid header; `None` for anything else.
fn parse_header(header: &[u8; HEADER_LEN as usize]) -> Option<(u64, u32)> {
    if header[..4] != MAGIC {
        return None;
    }
    let stored = u32::from_le_bytes([header[16], header[17], header[18], header[19]]);
    if crc32fast::hash(&header[..16]) != stored {
        return None;
    }
    let length = u64::from_le_bytes(header[4..12].try_into().ok()?);
    let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    Some((length, crc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pixels.bin");
        let mut sidecar = PixelSidecar::open(&path).unwrap();
        let a = sidecar.append(b"first record").unwrap();
        let b = sidecar.append(&[7u8; 1000]).unwrap();
        sidecar.sync().unwrap();
        drop(sidecar);
        let sidecar = PixelSidecar::open(&path).unwrap();
        assert_eq!(sidecar.read(a).unwrap(), b"first record");
        assert_eq!(sidecar.read(b).unwrap(), vec![7u8; 1000]);
    }

    #[test]
    fn torn_tail_is_cut_off_and_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pixels.bin");
        let mut sidecar = PixelSidecar::open(&path).unwrap();
        let kept = sidecar.append(b"committed").unwrap();
        let torn = sidecar.append(&[1u8; 4096]).unwrap();
        sidecar.sync().unwrap();
        drop(sidecar);
        // Simulate a crash halfway through writing the second payload.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(torn.offset + HEADER_LEN + 100).unwrap();
        drop(file);

        let mut sidecar = PixelSidecar::open(&path).unwrap();
        assert_eq!(sidecar.len(), torn.offset, "torn record is dropped");
        assert!(sidecar.read(torn).is_err());
        assert_eq!(sidecar.read(kept).unwrap(), b"committed");
        // New records go where the torn one was, and read back intact.
        let next = sidecar.append(b"after crash").unwrap();
        assert_eq!(next.offset, torn.offset);
        assert_eq!(sidecar.read(next).unwrap(), b"after crash");
    }

    #[test]
    fn corrupted_payload_or_wrong_address_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pixels.bin");
        let mut sidecar = PixelSidecar::open(&path).unwrap();
        let a = sidecar.append(&[9u8; 64]).unwrap();
        sidecar.sync().unwrap();
        let wrong = SidecarAddress {
            offset: a.offset + 4,
            length: a.length,
        };
        assert!(sidecar.read(wrong).is_err());
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[0u8], a.offset + HEADER_LEN + 10)
            .unwrap();
        let err = sidecar.read(a).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
    }
}
