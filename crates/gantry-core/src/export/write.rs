//! Writing one DICOM file: preamble, file meta group, the data set around its pixel data,
//! hashed as it is written, under a temporary name.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use dicom_core::Tag;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use sha2::{Digest, Sha256};

/// Gantry's Implementation Class UID (a UUID-derived UID, PS3.5 B.2).
pub(crate) const IMPLEMENTATION_CLASS_UID: &str = "2.25.96541186372184616917392346153618620716";
const IMPLEMENTATION_VERSION: &str = concat!("GANTRY_", env!("CARGO_PKG_VERSION"));
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);

/// The pixel value of a file being written.
pub(crate) enum PixelValue<'a> {
    /// No pixel data.
    None,
    /// Native samples, from memory (`vr` is OB or OW).
    Native { bytes: &'a [u8], vr: [u8; 2] },
    /// Native samples streamed from a reader of `length` bytes.
    NativeStream {
        reader: Box<dyn Read + Send + 'a>,
        length: u64,
        vr: [u8; 2],
    },
    /// Encapsulated items (offset table, fragments, delimiter), streamed as they are.
    Encapsulated { reader: Box<dyn Read + Send + 'a> },
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Writes the file; returns its SHA-256 (hex) and size. The data is flushed to the
/// operating system, not synced: the caller syncs a batch at once.
///
/// `verbatim`, when given, is `header` already encoded as an Explicit VR Little Endian data
/// set (the de-identified header as stored): written as it is instead of encoded again,
/// when nothing in it belongs after the pixel data.
pub(crate) fn write_file(
    path: &Path,
    header: &InMemDicomObject,
    verbatim: Option<&[u8]>,
    transfer_syntax: &str,
    pixels: PixelValue<'_>,
) -> io::Result<(String, u64)> {
    let sop_class = crate::header::text(header, Tag(0x0008, 0x0016)).unwrap_or_default();
    let sop_instance = crate::header::text(header, Tag(0x0008, 0x0018)).unwrap_or_default();
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(transfer_syntax)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION)
        .build()
        .map_err(other)?;
    let explicit_le = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2.1")
        .ok_or_else(|| other("Explicit VR Little Endian is not registered"))?;
    let (mut before, mut after) = (InMemDicomObject::new_empty(), InMemDicomObject::new_empty());
    for element in header.iter() {
        let tag = element.header().tag;
        if tag.group() == 0x0002 || tag == PIXEL_DATA {
            continue;
        }
        if tag < PIXEL_DATA {
            before.put(element.clone());
        } else {
            after.put(element.clone());
        }
    }

    let file = File::create(path)?;
    let mut out = Hashing {
        inner: BufWriter::with_capacity(256 * 1024, file),
        hasher: Sha256::new(),
        written: 0,
    };
    out.write_all(&[0u8; 128])?;
    out.write_all(b"DICM")?;
    meta.write(&mut out).map_err(other)?;
    let verbatim = verbatim.filter(|_| {
        header.iter().all(|e| {
            let tag = e.header().tag;
            tag < PIXEL_DATA && tag.group() != 0x0002
        })
    });
    match verbatim {
        Some(bytes) => out.write_all(bytes)?,
        None => before
            .write_dataset_with_ts(&mut out, explicit_le)
            .map_err(other)?,
    }
    match pixels {
        PixelValue::None => {}
        PixelValue::Native { bytes, vr } => {
            write_pixel_header(&mut out, vr, (bytes.len() + bytes.len() % 2) as u32)?;
            out.write_all(bytes)?;
            if bytes.len() % 2 == 1 {
                out.write_all(&[0])?;
            }
        }
        PixelValue::NativeStream {
            mut reader,
            length,
            vr,
        } => {
            let padded = length + length % 2;
            let padded =
                u32::try_from(padded).map_err(|_| other("native pixel data over 4 GiB"))?;
            write_pixel_header(&mut out, vr, padded)?;
            let copied = io::copy(&mut (&mut reader).take(length), &mut out)?;
            if copied < length {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if length % 2 == 1 {
                out.write_all(&[0])?;
            }
        }
        PixelValue::Encapsulated { mut reader } => {
            write_pixel_header(&mut out, *b"OB", u32::MAX)?;
            io::copy(&mut reader, &mut out)?;
        }
    }
    after
        .write_dataset_with_ts(&mut out, explicit_le)
        .map_err(other)?;
    out.flush()?;
    let size = out.written;
    // The batch's sync then finds this file's data already on its way to disk.
    gantry_store::start_writeback(out.inner.get_ref(), 0, size);
    let hash = hex::encode(out.hasher.finalize());
    Ok((hash, size))
}

fn write_pixel_header(out: &mut impl Write, vr: [u8; 2], length: u32) -> io::Result<()> {
    out.write_all(&[0xE0, 0x7F, 0x10, 0x00, vr[0], vr[1], 0, 0])?;
    out.write_all(&length.to_le_bytes())
}

/// SHA-256 of a file, hex.
pub(crate) fn hash_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
