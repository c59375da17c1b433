//! What an instance's pixels need, shared by redact, verify and export: the machine rules
//! that match it, whether it may carry burned-in text, whether its pixel data can be
//! decoded, reading it, and the pixel findings.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;
use gantry_redact::{Fill, Geometry, Palette, Rect, effective_zones, first_unblanked};
use gantry_store::{
    InstanceRecord, PixelLayout, PixelSidecar, RedactedPixels, decode_header, open_pixel_value,
    split_fragments,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::ElementFinding;
use crate::error::{InstanceError, PixelError};
use crate::header::TagPath;
use crate::rules::{Planned, RuleSource};
use crate::settings::{Config, MachineRule};

/// Modalities whose images often carry burned-in text (ultrasound, secondary capture,
/// angiography, endoscopy, other).
pub(crate) const RISKY_MODALITIES: &[&str] = &["US", "SC", "XA", "ES", "OT"];

/// The transfer syntax redacted pixels are written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelSyntax {
    /// Native, Explicit VR Little Endian (the default: every reader reads it).
    #[default]
    Native,
    /// RLE Lossless: smaller, and every DICOM reader still decodes it.
    RleLossless,
}

/// What was done to an instance's pixels, as stored with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Redaction {
    pub rules: Vec<String>,
    /// Zones grown around the text the detector found (`pixel_policy: redact_detected`),
    /// blanked beside the rules' zones.
    #[serde(default)]
    pub detected: Vec<Rect>,
    /// Text regions the detector still finds after blanking.
    #[serde(default)]
    pub text_left: u32,
    pub applied: Vec<Rect>,
    pub outside: Vec<Rect>,
    pub fill: Fill,
    pub geometry: Geometry,
    pub syntax: PixelSyntax,
}

/// The pixel plan of one instance.
#[derive(Debug, Clone)]
pub(crate) struct PixelPlan<'c> {
    /// The machine rules that match it.
    pub rules: Vec<&'c MachineRule>,
    /// Their zones, together.
    pub zones: Vec<Rect>,
    /// Why it may carry burned-in text, if it may.
    pub risk: Option<String>,
    /// Whether its pixel data can be decoded by this build.
    pub decodable: bool,
    /// Identifies the redaction these rules ask for, for this source.
    pub fingerprint: String,
    /// What happens when it is at risk and no rule covers it.
    pub policy: crate::settings::PixelPolicy,
    /// Whether overlay planes (60xx,3000) can leave with it (Clean Graphics, or a rule
    /// for them), so that they are searched too.
    pub overlays_kept: bool,
    /// Whether a rule keeps the Icon Image Sequence (0088,0200), whose thumbnails are then
    /// searched too.
    pub icons_kept: bool,
    /// Whether a matching rule attests `burned_in_text: none`.
    pub attested: bool,
}

impl PixelPlan<'_> {
    /// Whether the text detector decides the fate of a risky image no zone covers.
    pub fn detector_decides(&self) -> bool {
        matches!(
            self.policy,
            crate::settings::PixelPolicy::Detect | crate::settings::PixelPolicy::RedactDetected
        )
    }

    /// Whether redact blanks what the detector finds: `pixel_policy: redact_detected`, and
    /// no matching rule gives zones (a person's zones are never second-guessed: text
    /// outside them blocks).
    pub fn redacts_detected(&self) -> bool {
        self.policy == crate::settings::PixelPolicy::RedactDetected && self.zones.is_empty()
    }
}

fn text(header: &InMemDicomObject, tag: Tag) -> Option<String> {
    crate::header::text(header, tag).filter(|t| !t.is_empty())
}

/// Why an image may carry burned-in text; `None` when nothing says it may.
pub(crate) fn risk_of(header: &InMemDicomObject) -> Option<String> {
    if text(header, Tag(0x0028, 0x0301)).is_some_and(|v| v.eq_ignore_ascii_case("YES")) {
        return Some("Burned In Annotation is YES".into());
    }
    match text(header, Tag(0x0008, 0x0060)) {
        Some(modality) if RISKY_MODALITIES.contains(&modality.to_ascii_uppercase().as_str()) => {
            return Some(format!("modality {modality} often carries burned-in text"));
        }
        Some(_) => {}
        // Nothing says what made the image: unknown counts as a risk.
        None => return Some("no Modality: nothing says what made the image".into()),
    }
    if text(header, Tag(0x0008, 0x0016)).is_some_and(|c| c.starts_with("1.2.840.10008.5.1.4.1.1.7"))
    {
        return Some("a Secondary Capture image".into());
    }
    None
}

/// Whether the pixel data of `record` can be decoded by this build.
pub(crate) fn decodable(record: &InstanceRecord) -> bool {
    match &record.pixels {
        Some(location) => match location.layout {
            PixelLayout::Native { .. } => true,
            PixelLayout::Encapsulated { .. } => gantry_redact::can_decode(&record.syntax.uid),
        },
        None => true,
    }
}

/// What [`plan`], reading source pixels and describing redacted ones need of an original
/// header, when the config lets that be known: the image pixel module (all of group
/// 0028), what [`risk_of`] reads, the device a machine rule matches on, and the Specific
/// Character Set those values are read in (without it a Latin-1 manufacturer would read
/// differently than at audit, and its rule might not match). `None` when a
/// machine rule has `when` conditions, which may name any attribute at any depth: the
/// header is then decoded whole.
pub(crate) fn plan_reads(config: &Config) -> Option<fn(Tag) -> bool> {
    fn reads(tag: Tag) -> bool {
        tag.group() == 0x0028
            || matches!(
                (tag.group(), tag.element()),
                (0x0008, 0x0005) // Specific Character Set
                    | (0x0008, 0x0016) // SOP Class UID
                    | (0x0008, 0x0018) // SOP Instance UID
                    | (0x0008, 0x0060) // Modality
                    | (0x0008, 0x0070) // Manufacturer
                    | (0x0008, 0x1090) // Manufacturer's Model Name
                    | (0x0018, 0x1000) // Device Serial Number
            )
    }
    config
        .machines
        .iter()
        .all(|r| r.when.is_empty())
        .then_some(reads as fn(Tag) -> bool)
}

/// The plan for an instance with original header `header`.
pub(crate) fn plan<'c>(
    config: &'c Config,
    header: &InMemDicomObject,
    record: &InstanceRecord,
) -> PixelPlan<'c> {
    let rules: Vec<&MachineRule> = config
        .machines
        .iter()
        .filter(|r| r.matches(header))
        .collect();
    let zones: Vec<Rect> = rules
        .iter()
        .flat_map(|r| r.redaction_zones.iter())
        .map(|z| Rect {
            row_start: z.row_start,
            row_end: z.row_end,
            col_start: z.col_start,
            col_end: z.col_end,
        })
        .collect();
    let mut hasher = Sha256::new();
    // The output syntax is not part of it: it changes the bytes, not what is blank. Fields
    // are hashed as bytes, not through serde, which cannot serialize a path that is not
    // UTF-8 (an empty stand-in would make every such fingerprint one).
    for z in &zones {
        for v in [z.row_start, z.row_end, z.col_start, z.col_end] {
            hasher.update(v.to_le_bytes());
        }
    }
    hasher.update((zones.len() as u64).to_le_bytes());
    hasher.update(record.stamp.size.to_le_bytes());
    hasher.update(record.stamp.mtime_ns.to_le_bytes());
    hasher.update(record.source_path.as_os_str().as_encoded_bytes());
    if zones.is_empty() && config.pixel_policy == crate::settings::PixelPolicy::RedactDetected {
        // The zones come from the detector: a redaction made by another one is stale.
        hasher.update(b"redact_detected:");
        hasher.update(gantry_redact::DETECTOR.as_bytes());
    }
    let attested = rules
        .iter()
        .any(|r| r.burned_in_text == Some(crate::settings::BurnedInText::None));
    PixelPlan {
        attested,
        rules,
        zones,
        risk: risk_of(header),
        decodable: decodable(record),
        fingerprint: hex::encode(&hasher.finalize()[..12]),
        policy: config.pixel_policy,
        overlays_kept: config.has_option(crate::settings::ProfileOption::CleanGraphics)
            || config
                .tag_rules
                .iter()
                .any(|r| r.tag.group() & 0xFF00 == 0x6000 && r.tag.element() == 0x3000),
        icons_kept: config
            .tag_rule(ICON_IMAGE_SEQUENCE)
            .is_some_and(|r| !matches!(r.action, None | Some(crate::settings::Action::Remove))),
    }
}

fn finding(value: String, action: Planned) -> ElementFinding {
    ElementFinding {
        path: TagPath::root(Tag(0x7FE0, 0x0010)),
        vr: "OB".into(),
        value,
        rule: RuleSource::PixelRisk,
        action,
    }
}

/// The key of a search of an instance's source pixels by this build's text detector: what
/// the result depends on besides the original header (which never changes under a plan
/// row): the detector and the codecs, the pixel plan (zones, policy, the source file's path
/// and stamp) and the source's syntax and content hash.
fn source_search_key(plan: &PixelPlan<'_>, record: &InstanceRecord) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [
        gantry_redact::DETECTOR.as_bytes(),
        &[cfg!(feature = "charls") as u8],
        plan.fingerprint.as_bytes(),
        record.syntax.uid.as_bytes(),
        record.content_hash.as_ref().map_or(&[][..], |h| &h[..]),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Names what a reading of burned-in text holds ("the patient's name", "a date").
pub(crate) type Identify<'a> = &'a dyn Fn(&str) -> Vec<String>;

/// The pixel findings of an instance: those of its rules (below), then what the text
/// detector finds in the pixels that would leave (the redacted pixels when a current
/// redaction exists, else the source's), outside the zones the rules blank. Text found
/// there blocks, whatever the header's flags or the rules say; an image that cannot be
/// read for the search is a finding too.
///
/// `verify` says which checkpoint asks; `identify` names what a reading of detected text
/// holds (feature `ocr`). `searched` is, first, the key of an earlier search of these source pixels that found
/// no text (from the instance's plan), and second, where the key of such a search made now
/// goes: a key that matches spares reading, decoding and searching the same pixels again.
pub(crate) fn findings(
    plan: &PixelPlan<'_>,
    record: &InstanceRecord,
    original: &InMemDicomObject,
    (redacted, redact_failure): (Option<&RedactedPixels>, Option<&str>),
    sidecar: Option<&PixelSidecar>,
    (verify, identify): (bool, Identify<'_>),
    (searched_clean, found_clean): (Option<&[u8]>, &mut Option<[u8; 32]>),
) -> Vec<ElementFinding> {
    let mut out = rule_findings(
        plan,
        record,
        original,
        redacted,
        redact_failure,
        sidecar,
        verify,
    );
    if plan.overlays_kept {
        out.extend(overlay_findings(original));
    }
    if plan.icons_kept {
        out.extend(icon_findings(original));
    }
    if record.pixels.is_none() || !plan.decodable || out.iter().any(|f| f.action == Planned::Block)
    {
        return out;
    }
    let current = redacted.filter(|r| r.fingerprint == plan.fingerprint);
    let source_key = current.is_none().then(|| source_search_key(plan, record));
    // The earlier search stands for these pixels only while the source file is as it was
    // indexed (what every later read of it checks too): a file gone or changed since is
    // read, and fails, again.
    if let (Some(key), Some(clean)) = (&source_key, searched_clean)
        && key.as_slice() == clean
        && std::fs::metadata(&record.source_path)
            .is_ok_and(|m| gantry_store::SourceStamp::of(&m) == record.stamp)
    {
        return out;
    }
    let searched = match current {
        Some(r) => read_redacted(r, original, sidecar),
        None => read_source_pixels(record, original),
    };
    let (mut data, geometry) = match searched {
        Ok(found) => found,
        Err(e) => {
            out.push(finding(
                format!("the pixels cannot be read to search them for burned-in text: {e}"),
                Planned::Block,
            ));
            return out;
        }
    };
    // Export clears the bits above High Bit: what leaves is searched.
    gantry_redact::clear_high_bits(&mut data, &geometry);
    let zones = match current.map(|r| blanked_zones(plan, r)) {
        None => plan.zones.clone(),
        Some(Ok(zones)) => zones,
        Some(Err(e)) => {
            out.push(finding(e.to_string(), Planned::Block));
            return out;
        }
    };
    // In redacted pixels the zones are blank: their fill does not count as image.
    let blanked = if current.is_some() {
        zones.as_slice()
    } else {
        &[]
    };
    let palette = gantry_redact::Palette::from_header(original);
    let detection =
        match gantry_redact::find_text_beside(&data, &geometry, palette.as_ref(), blanked) {
            Ok(d) => d,
            Err(e) => {
                out.push(finding(
                    format!("the pixels cannot be searched for burned-in text: {e}"),
                    Planned::Block,
                ));
                return out;
            }
        };
    if detection.regions.is_empty() {
        *found_clean = source_key;
    }
    // Text inside a zone the rules blank is dealt with by redact (and, once redacted, is
    // gone); text anywhere else leaves with the image.
    let mut outside: Vec<gantry_redact::TextRegion> = detection.outside(&zones).copied().collect();
    // A line's box is not its ink: found at half scale, or joined to the edge of the band
    // its text stands in, it can reach past a zone that holds every glyph. Whether text
    // leaves is decided as redact and verify decide it: on the pixels with the zones
    // blanked, searched again.
    if !outside.is_empty() && current.is_none() && !zones.is_empty() {
        match search_blanked(&mut data, &geometry, palette.as_ref(), &zones) {
            Ok(left) => outside = left,
            Err(e) => {
                out.push(finding(
                    format!("the pixels cannot be searched for burned-in text: {e}"),
                    Planned::Block,
                ));
                return out;
            }
        }
    }
    if !outside.is_empty() && plan.redacts_detected() && current.is_none() && !verify {
        out.push(finding(
            format!(
                "the text detector finds {} text region(s) in the source pixels; redact blanks them (pixel_policy: redact_detected): {}",
                outside.len(),
                outside
                    .iter()
                    .take(6)
                    .map(|r| format!("frame {} {}", r.frame, r.rect))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Planned::Redact,
        ));
        return out;
    }
    if !outside.is_empty() {
        let read = readings(
            &data,
            &geometry,
            palette.as_ref(),
            &outside[..outside.len().min(6)],
            identify,
        );
        let shown: Vec<String> = outside
            .iter()
            .zip(&read)
            .map(|(r, reading)| {
                // What found it, and the learned stage's reading (advisory: it never
                // clears a region).
                let seen = match (r.glyphs, r.learned) {
                    (0, _) => "found by the network".to_string(),
                    (g, Some(true)) => format!("{g} glyphs, the network reads it as text"),
                    (g, Some(false)) => {
                        format!("{g} glyphs, the network does not read it as text")
                    }
                    (g, None) => format!("{g} glyphs"),
                };
                format!(
                    "frame {} rows {}-{} columns {}-{} ({seen}{reading})",
                    r.frame, r.rect.row_start, r.rect.row_end, r.rect.col_start, r.rect.col_end,
                )
            })
            .collect();
        let attested = plan.attested;
        // As zones a person can paste into the device's rule (two more pixels of margin).
        let proposed: Vec<String> = outside
            .iter()
            .take(6)
            .map(|r| {
                format!(
                    "[{}, {}, {}, {}]",
                    r.rect.row_start.saturating_sub(2),
                    (r.rect.row_end + 2).min(geometry.rows),
                    r.rect.col_start.saturating_sub(2),
                    (r.rect.col_end + 2).min(geometry.columns)
                )
            })
            .collect();
        out.push(finding(
            format!(
                "the text detector finds {} text region(s) in the {} pixels outside every zone{}: {}{}; proposed zones: {}",
                outside.len(),
                if current.is_some() { "redacted" } else { "source" },
                if attested {
                    " (although a machine rule attests `burned_in_text: none`)"
                } else {
                    ""
                },
                shown.join("; "),
                if outside.len() > shown.len() { "; ..." } else { "" },
                proposed.join(", ")
            ),
            Planned::Block,
        ));
    }
    out
}

/// What each region reads, masked to its shape (`AAA 99999999`), and what `identify` finds
/// the reading holds (the patient's name, a date), as the end of its place in a reason:
/// Tesseract's reading under the cargo feature `ocr`, nothing without it. A reading only
/// describes what the detector found; it never clears it.
#[cfg(feature = "ocr")]
fn readings(
    data: &[u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
    regions: &[gantry_redact::TextRegion],
    identify: Identify<'_>,
) -> Vec<String> {
    match gantry_redact::read_regions(data, geometry, palette, regions) {
        Ok(read) => read
            .into_iter()
            .map(|r| match r {
                Some(r) => {
                    let holds = identify(&r.text);
                    if holds.is_empty() {
                        format!(", reads \"{}\"", r.masked())
                    } else {
                        format!(", reads \"{}\": {}", r.masked(), holds.join(", "))
                    }
                }
                None => ", nothing read".to_string(),
            })
            .collect(),
        Err(e) => vec![format!(", not read: {e}"); regions.len()],
    }
}

#[cfg(not(feature = "ocr"))]
fn readings(
    _: &[u8],
    _: &Geometry,
    _: Option<&Palette>,
    regions: &[gantry_redact::TextRegion],
    _: Identify<'_>,
) -> Vec<String> {
    vec![String::new(); regions.len()]
}

/// The text the detector finds outside `zones` once they are blanked in `data` (with the
/// fill redact uses), their fill left out of the frame's range: what redact would leave.
fn search_blanked(
    data: &mut [u8],
    geometry: &Geometry,
    palette: Option<&Palette>,
    zones: &[Rect],
) -> Result<Vec<gantry_redact::TextRegion>, gantry_redact::RedactError> {
    let fill = Fill::black(geometry, palette)?;
    gantry_redact::blank(data, geometry, zones, &fill)?;
    Ok(
        gantry_redact::find_text_beside(data, geometry, palette, zones)?
            .outside(zones)
            .copied()
            .collect(),
    )
}

const ICON_IMAGE_SEQUENCE: Tag = Tag(0x0088, 0x0200);

/// Icon Image Sequence thumbnails (native pixel data in the header) with text the detector
/// finds in them, or that cannot be searched, as blocking findings.
fn icon_findings(header: &InMemDicomObject) -> Vec<ElementFinding> {
    let Some(items) = header.get(ICON_IMAGE_SEQUENCE).and_then(|e| e.items()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let searched = Geometry::from_header(item)
            .map_err(|e| e.to_string())
            .and_then(|g| {
                let bytes = item
                    .get(Tag(0x7FE0, 0x0010))
                    .ok_or("no pixel data")?
                    .to_bytes()
                    .map_err(|e| e.to_string())?;
                let palette = gantry_redact::Palette::from_header(item);
                gantry_redact::find_text(&bytes, &g, palette.as_ref()).map_err(|e| e.to_string())
            });
        let value = match searched {
            Ok(found) if !found.has_text() => continue,
            Ok(found) => format!(
                "the text detector finds {} text region(s) in icon {n} of the Icon Image Sequence, which a rule keeps",
                found.regions.len()
            ),
            Err(e) => format!(
                "icon {n} of the Icon Image Sequence, which a rule keeps, cannot be searched for burned-in text: {e}"
            ),
        };
        out.push(ElementFinding {
            path: TagPath::root(ICON_IMAGE_SEQUENCE),
            vr: "SQ".into(),
            value,
            rule: RuleSource::PixelRisk,
            action: Planned::Block,
        });
    }
    out
}

/// Overlay planes (60xx,3000) with text the detector finds in them, as blocking findings;
/// a plane that cannot be read as its attributes describe it is a finding too.
fn overlay_findings(header: &InMemDicomObject) -> Vec<ElementFinding> {
    let mut out = Vec::new();
    for group in (0x6000u16..=0x601E).step_by(2) {
        let Some(data) = header.get(Tag(group, 0x3000)) else {
            continue;
        };
        let number = |element: u16| {
            header
                .get(Tag(group, element))
                .and_then(|e| e.to_int::<u32>().ok())
        };
        let at = |value: String| ElementFinding {
            path: TagPath::root(Tag(group, 0x3000)),
            vr: "OB".into(),
            value,
            rule: RuleSource::PixelRisk,
            action: Planned::Block,
        };
        let (Some(rows), Some(columns), Ok(bytes)) =
            (number(0x0010), number(0x0011), data.to_bytes())
        else {
            out.push(at(format!(
                "overlay plane {group:04X} cannot be read (no rows, columns or data): it cannot be searched for text"
            )));
            continue;
        };
        let (rows, columns) = (rows as usize, columns as usize);
        let frames = number(0x0015).unwrap_or(1).max(1) as usize;
        let per_frame = rows * columns;
        // Bits that are not there cannot be searched: short data is unexamined, not empty.
        if per_frame == 0 || bytes.len().saturating_mul(8) < per_frame.saturating_mul(frames) {
            out.push(at(format!(
                "overlay plane {group:04X} holds {} bytes where {rows}×{columns}×{frames} bits need {}: it cannot be searched for text",
                bytes.len(),
                per_frame.saturating_mul(frames).div_ceil(8)
            )));
            continue;
        }
        for frame in 0..frames {
            let bits: Vec<u8> = (0..per_frame)
                .map(|i| {
                    let bit = frame * per_frame + i;
                    (bytes.get(bit / 8).copied().unwrap_or(0) >> (bit % 8)) & 1
                })
                .collect();
            let found = gantry_redact::find_text_in_bitmap(&bits, rows, columns, frame as u32);
            if let Some(r) = found.regions.first() {
                out.push(at(format!(
                    "the text detector finds {} text region(s) in overlay plane {group:04X}, frame {frame} (first: rows {}-{} columns {}-{}); the plane leaves with the image",
                    found.regions.len(),
                    r.rect.row_start,
                    r.rect.row_end,
                    r.rect.col_start,
                    r.rect.col_end
                )));
                break;
            }
        }
    }
    out
}

/// The stored redacted pixels as native samples, under the header that describes them.
pub(crate) fn read_redacted(
    redacted: &RedactedPixels,
    original: &InMemDicomObject,
    sidecar: Option<&PixelSidecar>,
) -> Result<(Vec<u8>, Geometry), PixelError> {
    read_redacted_under(redacted, original, sidecar).map(|(data, geometry, _)| (data, geometry))
}

/// [`read_redacted`], with the header that describes the redacted pixels.
fn read_redacted_under(
    redacted: &RedactedPixels,
    original: &InMemDicomObject,
    sidecar: Option<&PixelSidecar>,
) -> Result<(Vec<u8>, Geometry, InMemDicomObject), PixelError> {
    let sidecar = sidecar.ok_or(PixelError::NoSidecar)?;
    let mut header = original.clone();
    overlay(&mut header, &redacted.attributes)?;
    let geometry = Geometry::from_header(&header)?;
    let payload = sidecar
        .read(redacted.address)
        .map_err(PixelError::Sidecar)?;
    let data = native_of(&payload, &redacted.transfer_syntax, &header)?;
    Ok((data, geometry, header))
}

/// The findings of an instance's rules. Before redaction (`verify` false) a rule to apply
/// is itself a finding; at verify every zone must be blank in the stored pixels.
fn rule_findings(
    plan: &PixelPlan<'_>,
    record: &InstanceRecord,
    original: &InMemDicomObject,
    redacted: Option<&RedactedPixels>,
    redact_failure: Option<&str>,
    sidecar: Option<&PixelSidecar>,
    verify: bool,
) -> Vec<ElementFinding> {
    if record.pixels.is_none() {
        // Float and Double Float Pixel Data stay in the header, where neither a zone nor
        // the text detector reaches them: unexamined, so never clean.
        let float = [Tag(0x7FE0, 0x0008), Tag(0x7FE0, 0x0009)]
            .iter()
            .any(|t| original.get(*t).is_some());
        if float {
            return vec![finding(
                "float pixel data cannot be searched for burned-in text or redacted".into(),
                Planned::Block,
            )];
        }
        return Vec::new();
    }
    if !plan.decodable {
        return vec![finding(
            format!(
                "pixel data in transfer syntax {} cannot be decoded by this build{}; it cannot be inspected or redacted",
                record.syntax.uid,
                if record.syntax.uid.starts_with("1.2.840.10008.1.2.4.8") {
                    " (JPEG-LS needs the `charls` feature)"
                } else {
                    ""
                }
            ),
            Planned::Block,
        )];
    }
    // Under `redact_detected`, a current redaction of detected text is checked like a
    // rule's: every zone it blanked must be blank.
    let detected_redaction =
        plan.redacts_detected() && redacted.is_some_and(|r| r.fingerprint == plan.fingerprint);
    if plan.rules.is_empty() && !detected_redaction {
        return match &plan.risk {
            // The text detector decides (it runs after these findings).
            Some(_) if plan.detector_decides() => Vec::new(),
            Some(risk) => vec![finding(
                format!("may carry burned-in text ({risk}) and no machine rule matches its device"),
                Planned::Block,
            )],
            None => Vec::new(),
        };
    }
    let attested = plan.attested;
    if plan.zones.is_empty() && !detected_redaction {
        // A rule without zones says the device writes no text into its images: believed
        // for devices nothing marks as risky, never for those something does, unless a
        // person attests it (`burned_in_text: none`) or the policy lets the detector
        // decide; the detector runs on every image either way.
        return match &plan.risk {
            Some(_) if attested || plan.detector_decides() => Vec::new(),
            Some(risk) => vec![finding(
                format!(
                    "may carry burned-in text ({risk}) and machine rule {} lists no zone to blank",
                    plan.rules[0].describe()
                ),
                Planned::Block,
            )],
            None => Vec::new(),
        };
    }
    let Some(redacted) = redacted.filter(|r| r.fingerprint == plan.fingerprint) else {
        let what = match (redact_failure, redacted.is_some(), verify) {
            // The first cause, when redact tried and failed: the codec's or the file's error.
            (Some(cause), _, _) => format!("redact failed ({cause}), so nothing was blanked"),
            (None, true, _) => {
                "the redaction is stale (rules or source changed): run redact again".into()
            }
            (None, false, true) => {
                "zones of a matching machine rule were never blanked: run redact".into()
            }
            (None, false, false) => "zones to blank".into(),
        };
        return vec![finding(
            format!("{what}: {} zone(s) of {}", plan.zones.len(), describe(plan)),
            if verify || redacted.is_some() {
                Planned::Block
            } else {
                Planned::Redact
            },
        )];
    };
    match check_blank(plan, redacted, original, sidecar) {
        Ok(problems) => problems
            .into_iter()
            .map(|p| finding(p, Planned::Block))
            .collect(),
        Err(e) => vec![finding(
            format!("redacted pixels cannot be checked: {e}"),
            Planned::Block,
        )],
    }
}

fn describe(plan: &PixelPlan<'_>) -> String {
    plan.rules
        .iter()
        .map(|r| r.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The zones a stored redaction blanked: its rules' and those grown around detected text.
/// A record that cannot be read is an error, never "no zones".
fn blanked_zones(plan: &PixelPlan<'_>, redacted: &RedactedPixels) -> Result<Vec<Rect>, PixelError> {
    let done: Redaction =
        serde_json::from_str(&redacted.redaction).map_err(|source| PixelError::Record {
            action: "read",
            source,
        })?;
    Ok(plan.zones.iter().chain(&done.detected).copied().collect())
}

/// Reads the stored redacted pixels and checks every zone under the header that will
/// describe them; returns what is wrong.
fn check_blank(
    plan: &PixelPlan<'_>,
    redacted: &RedactedPixels,
    original: &InMemDicomObject,
    sidecar: Option<&PixelSidecar>,
) -> Result<Vec<String>, PixelError> {
    let (data, geometry, header) = read_redacted_under(redacted, original, sidecar)?;
    let fill = Fill::black(&geometry, Palette::from_header(&header).as_ref())?;
    let zones = blanked_zones(plan, redacted)?;
    let (applied, outside) = effective_zones(&geometry, &zones);
    let mut problems: Vec<String> = outside
        .iter()
        .map(|z| {
            format!(
                "zone {z} lies outside the {}×{} image: not applied",
                geometry.rows, geometry.columns
            )
        })
        .collect();
    if let Some((frame, row, col)) = first_unblanked(&data, &geometry, &applied, &fill)? {
        problems.push(format!(
            "frame {frame}, row {row}, column {col} inside a zone is not blank"
        ));
    }
    Ok(problems)
}

/// Lays the elements of an attributes blob over `header`.
pub(crate) fn overlay(
    header: &mut InMemDicomObject,
    attributes: &[u8],
) -> Result<(), InstanceError> {
    if !attributes.is_empty() {
        for element in redacted_attributes(attributes)? {
            header.put(element);
        }
    }
    Ok(())
}

/// The elements describing redacted pixels, as their record keeps them (encoded), decoded.
pub(crate) fn redacted_attributes(attributes: &[u8]) -> Result<InMemDicomObject, InstanceError> {
    decode_header(attributes).map_err(|source| InstanceError::Decode {
        what: "attributes of the redacted pixels",
        source,
    })
}

/// Native samples of a stored pixel value in `transfer_syntax`.
fn native_of(
    payload: &[u8],
    transfer_syntax: &str,
    header: &InMemDicomObject,
) -> Result<Vec<u8>, PixelError> {
    if transfer_syntax == gantry_redact::RLE_LOSSLESS {
        let (table, fragments) = split_fragments(payload)?;
        return Ok(gantry_redact::decode(header, transfer_syntax, table, fragments)?.data);
    }
    Ok(payload.to_vec())
}

/// The source pixels of an instance as native samples, with their layout: read from the
/// source file (byte-swapped when it is big endian) and decoded when encapsulated.
pub(crate) fn read_source_pixels(
    record: &InstanceRecord,
    header: &InMemDicomObject,
) -> Result<(Vec<u8>, Geometry), PixelError> {
    let location = record.pixels.as_ref().ok_or(PixelError::NoPixelData)?;
    let value = open_pixel_value(&record.source_path, location, record.stamp)
        .map_err(PixelError::Open)?
        .read_all(location.length)
        .map_err(|source| PixelError::Read {
            path: record.source_path.clone(),
            source,
        })?;
    match location.layout {
        PixelLayout::Native { .. } => {
            let geometry = Geometry::from_header(header)?;
            Ok((value, geometry))
        }
        PixelLayout::Encapsulated { .. } => {
            let (table, fragments) = split_fragments(&value)?;
            let decoded = gantry_redact::decode(header, &record.syntax.uid, table, fragments)?;
            Ok((decoded.data, decoded.geometry))
        }
    }
}

#[cfg(test)]
mod tests {
    use dicom_core::{DataElement, PrimitiveValue, VR};

    use super::*;

    #[test]
    fn redact_reads_the_device_as_audit_does_in_any_character_set() {
        // UTF-8 and Cyrillic: bytes that read differently without their character set.
        for (charset, device) in [("ISO_IR 192", "Müller Médical"), ("ISO_IR 144", "Сименс")]
        {
            let original = header(&[
                (Tag(0x0008, 0x0005), VR::CS, charset),
                (Tag(0x0008, 0x0060), VR::CS, "US"),
                (Tag(0x0008, 0x0070), VR::LO, device),
                (Tag(0x0010, 0x0010), VR::PN, "Doe^Jane"),
            ]);
            let blob = gantry_store::encode_header(&original).unwrap();
            let reads = plan_reads(&Config::default()).expect("no rule has conditions");
            let part = crate::header::decode_original_part(&blob, reads).unwrap();
            let whole = crate::header::decode_original_raw(&blob).unwrap();
            let manufacturer = |o: &InMemDicomObject| text(o, Tag(0x0008, 0x0070));
            assert_eq!(manufacturer(&part), manufacturer(&whole), "{charset}");
            assert_eq!(manufacturer(&part).as_deref(), Some(device), "{charset}");
            assert!(
                part.get(Tag(0x0010, 0x0010)).is_none(),
                "only what redact reads"
            );
        }
    }

    fn header(elements: &[(Tag, VR, &str)]) -> InMemDicomObject {
        InMemDicomObject::from_element_iter(
            elements
                .iter()
                .map(|(t, vr, v)| DataElement::new(*t, *vr, PrimitiveValue::from(*v))),
        )
    }

    #[test]
    fn what_may_carry_burned_in_text() {
        let modality = Tag(0x0008, 0x0060);
        let burned = Tag(0x0028, 0x0301);
        let class = Tag(0x0008, 0x0016);
        assert!(risk_of(&header(&[(modality, VR::CS, "CT")])).is_none());
        assert!(risk_of(&header(&[(modality, VR::CS, "us")])).is_some());
        assert!(
            risk_of(&header(&[
                (modality, VR::CS, "CT"),
                (burned, VR::CS, "YES")
            ]))
            .is_some()
        );
        assert!(
            risk_of(&header(&[
                (modality, VR::CS, "CT"),
                (class, VR::UI, "1.2.840.10008.5.1.4.1.1.7.4")
            ]))
            .is_some()
        );
        assert!(
            risk_of(&header(&[])).is_some(),
            "an image of unknown origin is a risk"
        );
    }
}
