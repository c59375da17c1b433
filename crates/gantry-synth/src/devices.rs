//! The imaging devices of the synthetic hospital, and the pixels each one produces.

use serde::Serialize;

/// The devices in the synthetic hospital.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Device {
    /// CT, 16-bit signed MONOCHROME2, some series Implicit VR Little Endian.
    GeCt,
    /// MR, 16-bit unsigned (12 stored); some series RLE Lossless, some Explicit VR Big Endian.
    SiemensMr,
    /// Digital radiography, 16-bit unsigned MONOCHROME1.
    CanonDx,
    /// Ultrasound with the patient's name burned into a top band (BurnedInAnnotation YES);
    /// RGB planar 0 stills, an RGB planar 1 cine, and JPEG Baseline stills.
    AcmeUs,
    /// GE LOGIQ 9 ultrasound, which the built-in catalogue of burned-in regions knows.
    GeLogiqUs,
    /// A workstation screen capture (OT, 8-bit signed) with text somewhere unknown and no
    /// redaction rule: the safe export must block it.
    ScreenCapture,
}

impl Device {
    /// Every device.
    pub const ALL: [Device; 6] = [
        Device::GeCt,
        Device::SiemensMr,
        Device::CanonDx,
        Device::AcmeUs,
        Device::GeLogiqUs,
        Device::ScreenCapture,
    ];

    pub(crate) fn modality(self) -> &'static str {
        match self {
            Device::GeCt => "CT",
            Device::SiemensMr => "MR",
            Device::CanonDx => "DX",
            Device::AcmeUs | Device::GeLogiqUs => "US",
            Device::ScreenCapture => "OT",
        }
    }

    /// Manufacturer (0008,0070).
    pub fn manufacturer(self) -> &'static str {
        match self {
            Device::GeCt => "GE MEDICAL SYSTEMS",
            Device::SiemensMr => "SIEMENS",
            Device::CanonDx => "Canon Inc.",
            Device::AcmeUs => "ACME Imaging",
            Device::GeLogiqUs => "GE Healthcare",
            Device::ScreenCapture => "Gantry Test Workstations",
        }
    }

    /// Manufacturer's Model Name (0008,1090).
    pub fn model(self) -> &'static str {
        match self {
            Device::GeCt => "LightSpeed VCT",
            Device::SiemensMr => "MAGNETOM Skyra",
            Device::CanonDx => "CXDI-710C",
            Device::AcmeUs => "SonoMax 3000",
            Device::GeLogiqUs => "LOGIQ9",
            Device::ScreenCapture => "ScreenGrabber",
        }
    }

    pub(crate) fn serial(self) -> &'static str {
        match self {
            Device::GeCt => "GECT0042XK",
            Device::SiemensMr => "SMR45521",
            Device::CanonDx => "CXDI88120",
            Device::AcmeUs => "SMX-0007",
            Device::GeLogiqUs => "LQ9-21877",
            Device::ScreenCapture => "WS-0815",
        }
    }

    pub(crate) fn station(self) -> &'static str {
        match self {
            Device::GeCt => "CTROOM1",
            Device::SiemensMr => "MRI3T-EAST",
            Device::CanonDx => "XRAY-ED2",
            Device::AcmeUs => "SONO-OBGYN",
            Device::GeLogiqUs => "SONO-VASC",
            Device::ScreenCapture => "READING-WS4",
        }
    }

    pub(crate) fn sop_class(self, frames: u32) -> &'static str {
        match self {
            Device::GeCt => "1.2.840.10008.5.1.4.1.1.2",
            Device::SiemensMr => "1.2.840.10008.5.1.4.1.1.4",
            Device::CanonDx => "1.2.840.10008.5.1.4.1.1.1.1",
            Device::AcmeUs | Device::GeLogiqUs if frames > 1 => "1.2.840.10008.5.1.4.1.1.3.1",
            Device::AcmeUs | Device::GeLogiqUs => "1.2.840.10008.5.1.4.1.1.6.1",
            Device::ScreenCapture => "1.2.840.10008.5.1.4.1.1.7",
        }
    }

    /// Whether the device writes burned-in text into the image.
    pub fn burns_in_text(self) -> bool {
        matches!(
            self,
            Device::AcmeUs | Device::GeLogiqUs | Device::ScreenCapture
        )
    }
}

/// Pixel geometry of one generated image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Geometry {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub columns: u16,
    /// Frames.
    pub frames: u32,
    /// Samples per pixel.
    pub samples: u16,
    /// Bits allocated.
    pub bits_allocated: u16,
    /// Bits stored.
    pub bits_stored: u16,
    /// 1 for signed samples.
    pub pixel_representation: u16,
    /// Planar configuration for colour images.
    pub planar: u16,
    /// Photometric interpretation.
    pub photometric: &'static str,
}

impl Geometry {
    /// Bytes of native pixel data.
    pub fn byte_len(&self) -> usize {
        self.rows as usize
            * self.columns as usize
            * self.frames as usize
            * self.samples as usize
            * (self.bits_allocated as usize / 8)
    }
}

/// A rectangle of burned-in text, `[row_start, row_end)` × `[col_start, col_end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Band {
    /// First row.
    pub row_start: u32,
    /// One past the last row.
    pub row_end: u32,
    /// First column.
    pub col_start: u32,
    /// One past the last column.
    pub col_end: u32,
}

/// The banner a device burns in: real glyphs (DejaVu Sans Mono Bold, anti-aliased), white
/// on black, as tall as the band allows (capitals 7 to 16 px), repeated across it.
fn banner(band: &Band) -> crate::text::Mask {
    let height = band.row_end - band.row_start;
    let cap = (height as f32 * 0.55).clamp(7.0, 16.0);
    crate::text::rasterize(
        "DOE^JANE MRN 48201937 2021-03-04",
        cap,
        crate::text::Face::MonoBold,
    )
}

/// Whether `(row, col)` of the band is ink of its banner (coverage of at least half).
fn text_pattern(row: u32, col: u32, band: &Band, banner: &crate::text::Mask) -> bool {
    let r = (row - band.row_start) as usize;
    let c = (col - band.col_start) as usize;
    let top = ((band.row_end - band.row_start) as usize).saturating_sub(banner.height) / 2;
    r >= top && banner.at(c % (banner.width + 8), r - top) >= 128
}

/// Renders native little endian pixel data for a device. `seed` varies the image content.
pub(crate) fn render(geometry: &Geometry, band: Option<&Band>, seed: u32) -> Vec<u8> {
    let rows = geometry.rows as u32;
    let cols = geometry.columns as u32;
    let samples = geometry.samples as usize;
    let bytes = geometry.bits_allocated as usize / 8;
    let frame_len = rows as usize * cols as usize * samples * bytes;
    let mut out = vec![0u8; frame_len * geometry.frames as usize];
    let max = (1u32 << geometry.bits_stored.min(16)) - 1;
    let banner = band.map(banner);
    for frame in 0..geometry.frames {
        let frame_buf = &mut out[frame as usize * frame_len..(frame as usize + 1) * frame_len];
        for row in 0..rows {
            for col in 0..cols {
                let in_band = band.is_some_and(|b| {
                    (b.row_start..b.row_end).contains(&row)
                        && (b.col_start..b.col_end).contains(&col)
                });
                let value: u32 = match band {
                    Some(b) if in_band => {
                        if banner
                            .as_ref()
                            .is_some_and(|m| text_pattern(row, col, b, m))
                        {
                            max
                        } else {
                            0
                        }
                    }
                    _ => {
                        // A disc on a gradient, moving with the frame, plus a little texture.
                        let cx = cols as i64 / 2 + frame as i64 * 3;
                        let cy = rows as i64 / 2;
                        let d2 = (col as i64 - cx).pow(2) + (row as i64 - cy).pow(2);
                        let r2 = (rows.min(cols) as i64 / 3).pow(2);
                        let base = if d2 < r2 { max * 3 / 4 } else { max / 5 };
                        let texture = (row * 7 + col * 13).wrapping_add(seed.wrapping_mul(31))
                            % (max / 16 + 1);
                        (base + texture + col * max / (cols * 8).max(1)).min(max)
                    }
                };
                for s in 0..samples {
                    let v = if samples == 3 {
                        // Slightly different channels so colour handling is visible.
                        value.saturating_sub(s as u32 * 9)
                    } else {
                        value
                    };
                    let index = if geometry.planar == 1 && samples == 3 {
                        (s * rows as usize * cols as usize + (row * cols + col) as usize) * bytes
                    } else {
                        ((row * cols + col) as usize * samples + s) * bytes
                    };
                    let stored = if geometry.pixel_representation == 1 {
                        // Signed: centre the range on zero.
                        // (max + 1) / 2 keeps the maximum inside the signed range.
                        (v as i64 - (max as i64 + 1) / 2) as u32
                    } else {
                        v
                    };
                    for b in 0..bytes {
                        frame_buf[index + b] = (stored >> (8 * b)) as u8;
                    }
                }
            }
        }
    }
    out
}
