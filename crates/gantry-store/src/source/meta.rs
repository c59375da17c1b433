//! The file meta information group (PS3.10 7.1), read leniently.
//!
//! dicom-object's `FileMetaTable` insists on a group length and a transfer syntax; real
//! dumps lack either now and then, and Gantry must still index what it can and say what
//! it guessed. So the group is read element by element until the group number changes.

use std::io::{BufReader, Read, Seek};

use crate::reason::SkipReason;

/// What Gantry keeps from a file meta group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileMeta {
    /// Transfer Syntax UID (0002,0010), when present.
    pub transfer_syntax: Option<String>,
    /// Media Storage SOP Class UID (0002,0002).
    pub media_storage_sop_class_uid: Option<String>,
    /// Media Storage SOP Instance UID (0002,0003).
    pub media_storage_sop_instance_uid: Option<String>,
    /// Bytes the group occupies after the `DICM` magic code.
    pub byte_len: u64,
}

/// The largest value Gantry accepts in a meta element; real ones are a few dozen bytes.
const MAX_META_VALUE: u32 = 1 << 16;

/// VRs whose explicit-VR header has two reserved bytes and a 32-bit length (PS3.5 7.1.2).
pub(crate) fn has_long_length(vr: &[u8; 2]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

pub(crate) fn is_vr_like(b: &[u8]) -> bool {
    b.len() >= 2 && b[0].is_ascii_uppercase() && b[1].is_ascii_uppercase()
}

/// Reads the meta group from just after the `DICM` magic code, leaving `src` at the first
/// byte of the main data set.
pub(crate) fn read_file_meta<R: Read + Seek>(
    src: &mut BufReader<R>,
) -> Result<FileMeta, SkipReason> {
    let mut meta = FileMeta::default();
    loop {
        let mut head = [0u8; 8];
        let got = read_up_to(src, &mut head)?;
        if got == 0 && meta.byte_len > 0 {
            // A meta group with nothing after it: the data set is empty.
            return Ok(meta);
        }
        if got >= 2 && u16::from_le_bytes([head[0], head[1]]) != 0x0002 {
            seek_back(src, got)?;
            return Ok(meta);
        }
        if got < 8 {
            return Err(SkipReason::Truncated {
                detail: format!(
                    "file ends inside the file meta group after {} bytes",
                    meta.byte_len
                ),
            });
        }
        let element = u16::from_le_bytes([head[2], head[3]]);
        let vr = [head[4], head[5]];
        let truncated = || SkipReason::Truncated {
            detail: format!("file ends inside meta element (0002,{element:04X})"),
        };
        // PS3.10 says the meta group is Explicit VR Little Endian; some writers used
        // implicit VR anyway, which shows as a non-letter where the VR should be.
        let (header_len, value_len) = if !is_vr_like(&vr) {
            (
                8u64,
                u32::from_le_bytes([head[4], head[5], head[6], head[7]]),
            )
        } else if has_long_length(&vr) {
            let mut long = [0u8; 4];
            if read_up_to(src, &mut long)? < 4 {
                return Err(truncated());
            }
            (12, u32::from_le_bytes(long))
        } else {
            (8, u16::from_le_bytes([head[6], head[7]]) as u32)
        };
        if value_len > MAX_META_VALUE {
            return Err(SkipReason::UnreadableMeta {
                detail: format!("meta element (0002,{element:04X}) claims {value_len} bytes"),
            });
        }
        let mut value = vec![0u8; value_len as usize];
        if read_up_to(src, &mut value)? < value.len() {
            return Err(truncated());
        }
        meta.byte_len += header_len + value_len as u64;
        let text = || {
            String::from_utf8_lossy(&value)
                .trim_end_matches(['\0', ' '])
                .to_string()
        };
        match element {
            0x0002 => meta.media_storage_sop_class_uid = Some(text()),
            0x0003 => meta.media_storage_sop_instance_uid = Some(text()),
            0x0010 => {
                let ts = text();
                if !ts.is_empty() {
                    meta.transfer_syntax = Some(ts);
                }
            }
            _ => {}
        }
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_up_to(src: &mut impl Read, buf: &mut [u8]) -> Result<usize, SkipReason> {
    let mut done = 0;
    while done < buf.len() {
        match src.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(SkipReason::Unreadable {
                    detail: e.to_string(),
                });
            }
        }
    }
    Ok(done)
}

fn seek_back<R: Read + Seek>(src: &mut BufReader<R>, n: usize) -> Result<(), SkipReason> {
    src.seek_relative(-(n as i64))
        .map_err(|e| SkipReason::Unreadable {
            detail: e.to_string(),
        })
}
