//! Checkpoint 7, redact: blank burned-in text in pixel data, by the zones of the machine
//! rules each instance matches, and under `pixel_policy: redact_detected` by what the text
//! detector finds in images no zone covers. The result is searched again: Burned In
//! Annotation becomes NO only when every zone was applied and no text is left. The new
//! pixel data goes to the sidecar; the store records where, and the header elements that
//! describe it. Pixels of instances no rule matches are never read (unless the policy
//! asks for the detector).

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use gantry_redact::{Fill, Geometry, Palette, blank};
use gantry_store::{PixelSidecar, RedactedPixels, SidecarAddress, encode_header};
use serde::Serialize;

use crate::error::{GantryError, InstanceError, PixelError, Result};
use crate::pixels::{PixelSyntax, Redaction, plan, read_source_pixels};
use crate::report::{duration_secs, per_second};
use crate::risk::Unreadable;
use crate::session::Session;

/// What redact did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RedactReport {
    /// Instances looked at.
    pub instances: u64,
    /// Instances whose pixels were blanked now.
    pub redacted: u64,
    /// Instances already redacted by the same rules (not read again).
    pub unchanged: u64,
    /// Instances no machine rule matches (their pixels were never read).
    pub untouched: u64,
    /// Earlier redactions dropped because no rule matches any more.
    pub dropped: u64,
    /// Frames blanked.
    pub frames: u64,
    /// Bytes of pixel data written to the sidecar.
    pub bytes_written: u64,
    /// Instances whose detected text was blanked (`pixel_policy: redact_detected`).
    pub detected: u64,
    /// Instances with a zone wholly outside the image: BurnedInAnnotation stays as it was.
    pub zones_outside: Vec<Unreadable>,
    /// Instances in which the text detector still finds text after blanking:
    /// BurnedInAnnotation stays as it was, and verify blocks them.
    pub text_left: Vec<Unreadable>,
    /// Instances that could not be redacted (never exported by the safe gate).
    pub failed: Vec<Unreadable>,
    /// Wall-clock time.
    #[serde(serialize_with = "duration_secs")]
    pub duration: Duration,
}

impl fmt::Display for RedactReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Redacted {} of {} instances in {:.2} s ({:.0} instances/s, {:.1} MB written; {} by detected text): {} already done, {} without a rule, {} dropped, {} failed",
            self.redacted,
            self.instances,
            self.duration.as_secs_f64(),
            per_second(self.redacted, self.duration),
            self.bytes_written as f64 / 1e6,
            self.detected,
            self.unchanged,
            self.untouched,
            self.dropped,
            self.failed.len()
        )?;
        Unreadable::list(f, "zone outside the image in", &self.zones_outside)?;
        Unreadable::list(f, "text left after blanking in", &self.text_left)?;
        Unreadable::list(f, "failed", &self.failed)
    }
}

/// The outcome of one instance.
enum Outcome {
    Untouched {
        had_redaction: bool,
    },
    Unchanged,
    Redacted {
        pixels: RedactedPixels,
        frames: u64,
        outside: Option<String>,
        detected: bool,
        text_left: Option<String>,
    },
    /// `redact_detected` found no text in an image no rule matches: nothing to blank.
    NothingDetected,
    Failed(String),
}

impl Session {
    /// Checkpoint 7: blanks the zones of every matching machine rule in every frame, and
    /// writes the pixels as native Explicit VR Little Endian.
    pub fn redact_pixels(&mut self) -> Result<RedactReport> {
        self.redact_pixels_as(PixelSyntax::Native)
    }

    /// Like [`Session::redact_pixels`], writing the pixels in `syntax`.
    pub fn redact_pixels_as(&mut self, syntax: PixelSyntax) -> Result<RedactReport> {
        let started = Instant::now();
        let config = self.config()?.clone();
        let reads = crate::pixels::plan_reads(&config);
        let sidecar = Mutex::new(self.take_sidecar()?);
        let mut report = RedactReport {
            instances: 0,
            redacted: 0,
            unchanged: 0,
            untouched: 0,
            dropped: 0,
            frames: 0,
            bytes_written: 0,
            detected: 0,
            zones_outside: Vec::new(),
            text_left: Vec::new(),
            failed: Vec::new(),
            duration: Duration::ZERO,
        };
        let result = self.for_each_instance(
            "redact",
            |stored| {
                // An instance without pixels has nothing to redact: its header is not read.
                if stored.record.pixels.is_none() {
                    return Outcome::Untouched {
                        had_redaction: stored.redacted.is_some(),
                    };
                }
                // Only the attributes the pixel plan and the codecs read are decoded, when
                // the config says which those are.
                let decoded = match reads {
                    Some(reads) => crate::header::decode_original_part(&stored.original, reads),
                    None => crate::header::decode_original_raw(&stored.original),
                };
                let header = match decoded {
                    Ok(h) => h,
                    Err(e) => {
                        return Outcome::Failed(format!("stored header cannot be decoded: {e}"));
                    }
                };
                let plan = plan(&config, &header, &stored.record);
                if plan.rules.is_empty() && !plan.redacts_detected() {
                    return Outcome::Untouched {
                        had_redaction: stored.redacted.is_some(),
                    };
                }
                let wanted_syntax = match syntax {
                    PixelSyntax::Native => gantry_redact::EXPLICIT_VR_LITTLE_ENDIAN,
                    PixelSyntax::RleLossless => gantry_redact::RLE_LOSSLESS,
                };
                if stored.redacted.as_ref().is_some_and(|r| {
                    r.fingerprint == plan.fingerprint && r.transfer_syntax == wanted_syntax
                }) {
                    return Outcome::Unchanged;
                }
                match redact_one(&stored.record, &header, &plan, syntax, &sidecar) {
                    Ok(Outcome::NothingDetected) => Outcome::Untouched {
                        had_redaction: stored.redacted.is_some(),
                    },
                    Ok(outcome) => outcome,
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            },
            |store, batch| {
                // Records become durable before the database points at them.
                sidecar
                    .lock()
                    .map_err(|_| GantryError::WorkerFailed {
                        step: "writing redacted pixels",
                    })?
                    .sync()?;
                store.write(|tx| {
                    for (stored, outcome) in &batch {
                        let id = stored.record.id;
                        match outcome {
                            Outcome::Redacted { pixels, .. } => {
                                tx.set_redacted(id, pixels)?;
                                tx.log(Some(id), "redact", &pixels.redaction)?;
                            }
                            Outcome::Untouched {
                                had_redaction: true,
                            } => {
                                tx.clear_redacted(id)?;
                                tx.log(
                                    Some(id),
                                    "redact",
                                    "no machine rule matches any more: redaction dropped",
                                )?;
                            }
                            Outcome::Failed(detail) => {
                                tx.log(Some(id), "redact", &format!("failed: {detail}"))?;
                            }
                            _ => {}
                        }
                        match outcome {
                            Outcome::Failed(detail) => {
                                tx.set_failure(id, "redact", Some(detail))?
                            }
                            _ if stored.redact_failure.is_some() => {
                                tx.set_failure(id, "redact", None)?
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                })?;
                for (stored, outcome) in batch {
                    report.instances += 1;
                    let uid = stored.record.sop_instance_uid.clone();
                    match outcome {
                        Outcome::Untouched { had_redaction } => {
                            report.untouched += 1;
                            report.dropped += had_redaction as u64;
                        }
                        Outcome::Unchanged => report.unchanged += 1,
                        Outcome::Redacted {
                            pixels,
                            frames,
                            outside,
                            detected,
                            text_left,
                        } => {
                            report.redacted += 1;
                            report.detected += detected as u64;
                            report.frames += frames;
                            report.bytes_written += pixels.address.length;
                            if let Some(detail) = outside {
                                report.zones_outside.push(Unreadable {
                                    sop_instance_uid: uid.clone(),
                                    detail,
                                });
                            }
                            if let Some(detail) = text_left {
                                report.text_left.push(Unreadable {
                                    sop_instance_uid: uid,
                                    detail,
                                });
                            }
                        }
                        Outcome::NothingDetected => report.untouched += 1,
                        Outcome::Failed(detail) => report.failed.push(Unreadable {
                            sop_instance_uid: uid,
                            detail,
                        }),
                    }
                }
                Ok(())
            },
        );
        self.sidecar = Some(
            sidecar
                .into_inner()
                .map_err(|_| GantryError::WorkerFailed {
                    step: "writing redacted pixels",
                })?,
        );
        result?;
        report.duration = started.elapsed();
        let json = gantry_store::StoreError::json("the redact report", &report)?;
        self.store.write(|tx| tx.add_report("redact", &json))?;
        Ok(report)
    }
}

/// Reads, blanks and stores the pixels of one instance.
fn redact_one(
    record: &gantry_store::InstanceRecord,
    header: &InMemDicomObject,
    plan: &crate::pixels::PixelPlan<'_>,
    syntax: PixelSyntax,
    sidecar: &Mutex<PixelSidecar>,
) -> std::result::Result<Outcome, PixelError> {
    if !plan.decodable {
        return Err(PixelError::Undecodable {
            syntax: record.syntax.uid.clone(),
        });
    }
    let (mut data, mut geometry) = read_source_pixels(record, header)?;
    // Overlays hidden above High Bit do not survive redaction either.
    gantry_redact::clear_high_bits(&mut data, &geometry);
    let palette = Palette::from_header(header);
    let fill = Fill::black(&geometry, palette.as_ref())?;
    // Text outside `zones`, in `data` where `blanked` zones are blank already.
    let search = |data: &[u8], zones: &[gantry_redact::Rect], blanked: &[gantry_redact::Rect]| {
        gantry_redact::find_text_beside(data, &geometry, palette.as_ref(), blanked)
            .map(|d| d.outside(zones).copied().collect::<Vec<_>>())
            .map_err(PixelError::Search)
    };
    let mut zones = plan.zones.clone();
    let mut detected = Vec::new();
    if plan.redacts_detected() {
        let found = search(&data, &zones, &[])?;
        if found.is_empty() && plan.rules.is_empty() {
            return Ok(Outcome::NothingDetected);
        }
        detected = gantry_redact::zones_around(&found, geometry.rows, geometry.columns);
        zones.extend(&detected);
    }
    let mut done = blank(&mut data, &geometry, &zones, &fill)?;
    // What is left is searched: a zone may cut a line in two, and a detected line may
    // have missed a glyph at either end. Under `redact_detected` what is found is blanked
    // too, a few rounds at most; text still left keeps BurnedInAnnotation as it was.
    let mut left = search(&data, &zones, &zones)?;
    for _ in 0..3 {
        if left.is_empty() || !plan.redacts_detected() {
            break;
        }
        let more = gantry_redact::zones_around(&left, geometry.rows, geometry.columns);
        let again = blank(&mut data, &geometry, &more, &fill)?;
        done.applied.extend(again.applied);
        detected.extend(&more);
        zones.extend(more);
        left = search(&data, &zones, &zones)?;
    }
    let text_left = (!left.is_empty()).then(|| {
        format!(
            "the text detector finds {} text region(s) outside every zone after blanking: {}",
            left.len(),
            left.iter()
                .take(6)
                .map(|r| format!("frame {} {}", r.frame, r.rect))
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    let (payload, transfer_syntax) = match syntax {
        PixelSyntax::Native => {
            data.truncate(geometry.data_len());
            if data.len() % 2 == 1 {
                data.push(0); // PS3.5 7.1.1: values have even length
            }
            (data, gantry_redact::EXPLICIT_VR_LITTLE_ENDIAN)
        }
        PixelSyntax::RleLossless => {
            // RLE codes colour by plane itself (PS3.5 G.2); its decoders hand back colour
            // by pixel, which is what the header must then say.
            if geometry.planar {
                data = gantry_redact::interleave(&data, &geometry);
                geometry.planar = false;
            }
            let fragments = gantry_redact::encode_rle(&data, &geometry)?;
            (encapsulate(&fragments), gantry_redact::RLE_LOSSLESS)
        }
    };
    let outside = (!done.outside.is_empty()).then(|| {
        format!(
            "{} zone(s) outside the {}×{} image: {}",
            done.outside.len(),
            geometry.rows,
            geometry.columns,
            done.outside
                .iter()
                .map(|z| z.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let attributes = attributes(
        header,
        &geometry,
        &record.syntax.uid,
        outside.is_none() && text_left.is_none(),
    )?;
    let redaction = Redaction {
        rules: plan.rules.iter().map(|r| r.describe()).collect(),
        text_left: left.len() as u32,
        detected: detected.clone(),
        applied: done.applied,
        outside: done.outside,
        fill,
        geometry: geometry.clone(),
        syntax,
    };
    let address: SidecarAddress = sidecar
        .lock()
        .map_err(|_| PixelError::SidecarLock)?
        .append(&payload)
        .map_err(PixelError::Sidecar)?;
    Ok(Outcome::Redacted {
        pixels: RedactedPixels {
            address,
            transfer_syntax: transfer_syntax.to_string(),
            attributes,
            redaction: serde_json::to_string(&redaction).map_err(|source| PixelError::Record {
                action: "serialized",
                source,
            })?,
            fingerprint: plan.fingerprint.clone(),
        },
        frames: geometry.frames as u64,
        outside,
        detected: !detected.is_empty(),
        text_left,
    })
}

/// An encapsulated pixel value: an empty basic offset table, one item per fragment, and
/// the sequence delimiter (PS3.5 A.4).
pub(crate) fn encapsulate(fragments: &[Vec<u8>]) -> Vec<u8> {
    encapsulate_with_table(&[], fragments)
}

/// An encapsulated pixel value with basic offset table `table`.
pub(crate) fn encapsulate_with_table(table: &[u32], fragments: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        fragments.iter().map(|f| f.len() + 8).sum::<usize>() + 16 + 4 * table.len(),
    );
    out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
    out.extend_from_slice(&((4 * table.len()) as u32).to_le_bytes());
    for offset in table {
        out.extend_from_slice(&offset.to_le_bytes());
    }
    for fragment in fragments {
        out.extend_from_slice(&[0xFE, 0xFF, 0x00, 0xE0]);
        let len = fragment.len() + fragment.len() % 2;
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(fragment);
        if fragment.len() % 2 == 1 {
            out.push(0);
        }
    }
    out.extend_from_slice(&[0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
    out
}

/// The header elements that describe the redacted pixels: their layout as decoded, the
/// burned-in flag (NO only when every zone was applied), and a lossy history that stays
/// true (PS3.3 C.7.6.1.1.5: once lossy, always marked lossy).
pub(crate) fn attributes(
    header: &InMemDicomObject,
    geometry: &Geometry,
    source_syntax: &str,
    all_zones_applied: bool,
) -> std::result::Result<Vec<u8>, InstanceError> {
    let us = |tag: u16, v: u16| DataElement::new(Tag(0x0028, tag), VR::US, PrimitiveValue::from(v));
    let mut out = InMemDicomObject::new_empty();
    out.put(us(0x0002, geometry.samples_per_pixel));
    out.put(DataElement::new(
        Tag(0x0028, 0x0004),
        VR::CS,
        PrimitiveValue::from(geometry.photometric.as_str()),
    ));
    if geometry.samples_per_pixel > 1 {
        out.put(us(0x0006, geometry.planar as u16));
    }
    out.put(us(0x0100, geometry.bits_allocated));
    out.put(us(0x0101, geometry.bits_stored));
    out.put(us(0x0102, geometry.bits_stored.saturating_sub(1)));
    out.put(us(0x0103, geometry.signed as u16));
    if all_zones_applied {
        out.put(DataElement::new(
            Tag(0x0028, 0x0301),
            VR::CS,
            PrimitiveValue::from("NO"),
        ));
    }
    let was_lossy = crate::header::text(header, Tag(0x0028, 0x2110)).as_deref() == Some("01");
    if let Some(method) = gantry_redact::lossy_method(source_syntax)
        && !was_lossy
        && crate::header::text(header, Tag(0x0028, 0x2110)).as_deref() != Some("00")
    {
        // A syntax that may be lossy, with no history to say it was not: claim lossy,
        // never lossless.
        out.put(DataElement::new(
            Tag(0x0028, 0x2110),
            VR::CS,
            PrimitiveValue::from("01"),
        ));
        if header.get(Tag(0x0028, 0x2114)).is_none() {
            out.put(DataElement::new(
                Tag(0x0028, 0x2114),
                VR::CS,
                PrimitiveValue::from(method),
            ));
        }
    }
    encode_header(&out).map_err(|source| InstanceError::Encode {
        what: "attributes of the redacted pixels",
        source,
    })
}
