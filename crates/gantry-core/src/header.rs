//! Reading and addressing elements of a header, at any depth.

use std::fmt;

use dicom_core::Tag;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use gantry_store::HeaderError;
use serde::Serialize;

/// A trimmed text value, or `None` when absent or not text (UN read as the text its bytes
/// hold): [`gantry_store::text_of`].
pub fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    gantry_store::text_of(obj, tag)
}

/// Where an element sits: its tag, through sequence items, e.g.
/// `(0040,0275)[0]>(0032,1064)[0]>(0008,0104)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagPath(Vec<(Tag, Option<u32>)>);

impl TagPath {
    /// The path of a top-level element.
    pub fn root(tag: Tag) -> TagPath {
        TagPath(vec![(tag, None)])
    }

    /// The path of `tag` in item `index` of the sequence at `parent`, or at the top level.
    pub(crate) fn under(parent: Option<(&TagPath, usize)>, tag: Tag) -> TagPath {
        match parent {
            Some((p, index)) => p.child(index, tag),
            None => TagPath::root(tag),
        }
    }

    /// This path's item `index`, then `tag` inside it.
    pub(crate) fn child(&self, index: usize, tag: Tag) -> TagPath {
        let mut steps = self.0.clone();
        if let Some(last) = steps.last_mut() {
            last.1 = Some(index as u32);
        }
        steps.push((tag, None));
        TagPath(steps)
    }

    /// The tag of the top-level element the path starts at.
    pub(crate) fn top(&self) -> Option<Tag> {
        self.0.first().map(|s| s.0)
    }

    /// The element's own tag.
    pub fn tag(&self) -> Option<Tag> {
        self.0.last().map(|s| s.0)
    }

    /// How many sequences deep the element is (0 at the top level).
    pub fn depth(&self) -> usize {
        self.0.len().saturating_sub(1)
    }

    /// The element at this path in `object`, if it is there.
    pub fn resolve<'a>(&self, object: &'a InMemDicomObject) -> Option<&'a InMemElement> {
        let mut current = object;
        let mut steps = self.0.iter().peekable();
        while let Some((tag, item)) = steps.next() {
            let element = current.get(*tag)?;
            if steps.peek().is_none() {
                return Some(element);
            }
            current = element.items()?.get((*item)? as usize)?;
        }
        None
    }
}

impl fmt::Display for TagPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (tag, item)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(">")?;
            }
            write!(f, "({:04X},{:04X})", tag.group(), tag.element())?;
            if let Some(item) = item {
                write!(f, "[{item}]")?;
            }
        }
        Ok(())
    }
}

/// A text that is not a [`TagPath`] as its `Display` writes one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a tag path step: {step:?}")]
pub struct BadTagPath {
    /// The step that is not one.
    pub step: String,
}

impl std::str::FromStr for TagPath {
    type Err = BadTagPath;

    /// Reads a path as [`TagPath`]'s `Display` writes it: `(0040,0275)[0]>(0008,0104)`;
    /// the empty text is the whole header.
    fn from_str(text: &str) -> Result<TagPath, BadTagPath> {
        let mut steps = Vec::new();
        if text.is_empty() {
            return Ok(TagPath(steps));
        }
        for step in text.split('>') {
            let bad = || BadTagPath {
                step: step.to_string(),
            };
            let inner = step.strip_prefix('(').ok_or_else(bad)?;
            let (tag, rest) = inner.split_once(')').ok_or_else(bad)?;
            let (group, element) = tag.split_once(',').ok_or_else(bad)?;
            let hex = |s: &str| u16::from_str_radix(s, 16).map_err(|_| bad());
            let item = match rest {
                "" => None,
                r => Some(
                    r.strip_prefix('[')
                        .and_then(|r| r.strip_suffix(']'))
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(bad)?,
                ),
            };
            steps.push((Tag(hex(group)?, hex(element)?), item));
        }
        Ok(TagPath(steps))
    }
}

impl<'de> serde::Deserialize<'de> for TagPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for TagPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How many times headers were decoded in this process, by kind: what the `pipeline`
/// bench divides by the number of instances to show how close a run is to one decode of
/// each original header and one of each de-identified header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DecodeCounts {
    /// Original headers decoded (to read identities, audit, redact, verify, export).
    pub original: u64,
    /// De-identified headers decoded (verify, export of redacted pixels).
    pub deidentified: u64,
    /// Original headers of which only a few attributes were decoded (redact reads the
    /// pixel module and the device): not counted in `original`.
    pub partial: u64,
}

static ORIGINAL_DECODES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static DEIDENTIFIED_DECODES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static PARTIAL_DECODES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The header decodes of this process so far.
pub fn decode_counts() -> DecodeCounts {
    use std::sync::atomic::Ordering::Relaxed;
    DecodeCounts {
        original: ORIGINAL_DECODES.load(Relaxed),
        deidentified: DEIDENTIFIED_DECODES.load(Relaxed),
        partial: PARTIAL_DECODES.load(Relaxed),
    }
}

/// An original header decoded as stored (no UN re-read, no character set decoding): what
/// pixel steps read geometry and device attributes from.
pub(crate) fn decode_original_raw(blob: &[u8]) -> Result<InMemDicomObject, HeaderError> {
    ORIGINAL_DECODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    gantry_store::decode_header(blob)
}

/// The top-level elements of an original header that `keep` accepts, decoded as stored
/// (as [`decode_original_raw`]); the whole header when the walk does not know the blob.
pub(crate) fn decode_original_part(
    blob: &[u8],
    keep: impl Fn(Tag) -> bool,
) -> Result<InMemDicomObject, HeaderError> {
    match gantry_store::subset_header(blob, keep) {
        Some(part) => {
            PARTIAL_DECODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gantry_store::decode_header(&part)
        }
        None => decode_original_raw(blob),
    }
}

/// A de-identified header decoded.
pub(crate) fn decode_deidentified(blob: &[u8]) -> Result<InMemDicomObject, HeaderError> {
    DEIDENTIFIED_DECODES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    gantry_store::decode_header(blob)
}

/// An original header as the rules read it: decoded, with text in code-extended character
/// sets decoded too ([`crate::charset::decoded`]).
pub(crate) fn decode_original(blob: &[u8]) -> Result<InMemDicomObject, HeaderError> {
    Ok(decode_original_and_raw(blob)?.0)
}

/// The original header of an instance as the rules read it, and the header as stored when
/// that differs (what sealing keeps): [`decode_original_and_raw`], and for a copy that
/// `on_uid_conflict: keep_all` indexed beside another file with the same SOP Instance UID
/// (its record's UID is `UID#copy`), its SOP Instance UID read as a UID of its own, so
/// that it gets its own new UID. The sealed original keeps the UID the file has.
pub(crate) fn decode_instance(
    stored: &gantry_store::StoredInstance,
) -> Result<(InMemDicomObject, Option<InMemDicomObject>), HeaderError> {
    let (mut header, raw) = decode_original_and_raw(&stored.original)?;
    if copy_uid(&stored.record.sop_instance_uid).is_none() {
        return Ok((header, raw));
    }
    let raw = raw.unwrap_or_else(|| header.clone());
    read_as_copy(&mut header, stored);
    Ok((header, Some(raw)))
}

/// The top-level elements of an instance's original header that `keep` accepts, read as
/// [`decode_instance`] reads the whole: UN re-read, text decoded, a copy's own UID.
pub(crate) fn decode_instance_part(
    stored: &gantry_store::StoredInstance,
    keep: impl Fn(Tag) -> bool,
) -> Result<InMemDicomObject, HeaderError> {
    let raw = decode_original_part(&stored.original, keep)?;
    let mut header = rules_reading(&raw).unwrap_or(raw);
    read_as_copy(&mut header, stored);
    Ok(header)
}

/// For a copy `on_uid_conflict: keep_all` indexed beside another file with the same SOP
/// Instance UID, its own UID ([`copy_uid`]) in `header`.
fn read_as_copy(header: &mut InMemDicomObject, stored: &gantry_store::StoredInstance) {
    if let Some(own) = copy_uid(&stored.record.sop_instance_uid) {
        header.put(dicom_core::DataElement::new(
            Tag(0x0008, 0x0018),
            dicom_core::VR::UI,
            dicom_core::PrimitiveValue::from(own),
        ));
    }
}

/// The UID a `keep_all` copy is read with: `2.25.` and a number derived from its record
/// key (the file's UID and a digest of its content); `None` for an instance that is not
/// such a copy.
pub(crate) fn copy_uid(record_uid: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    record_uid.split_once('#')?;
    let digest = Sha256::digest(record_uid.as_bytes());
    let mut number = [0u8; 16];
    number.copy_from_slice(&digest[..16]);
    Some(format!("2.25.{}", u128::from_be_bytes(number) >> 2))
}

/// [`decode_original`], and the header as stored when reading it changed anything (UN
/// re-read, code extensions decoded): what sealing keeps, so that recovery restores the
/// original bytes.
pub(crate) fn decode_original_and_raw(
    blob: &[u8],
) -> Result<(InMemDicomObject, Option<InMemDicomObject>), HeaderError> {
    let raw = decode_original_raw(blob)?;
    Ok(match rules_reading(&raw) {
        Some(read) => (read, Some(raw)),
        None => (raw, None),
    })
}

/// `raw` (a header as parsed or stored) as the rules read it, given to `f`: what
/// [`decode_original`] gives for its blob, without a decode (ingest's parsed header).
pub(crate) fn as_rules_read<R>(
    raw: &InMemDicomObject,
    f: impl FnOnce(&InMemDicomObject) -> R,
) -> R {
    f(rules_reading(raw).as_ref().unwrap_or(raw))
}

/// `raw` as the rules read it (UN values re-read with their dictionary VR, text in
/// code-extended character sets decoded), or `None` when reading it so changes nothing.
fn rules_reading(raw: &InMemDicomObject) -> Option<InMemDicomObject> {
    let reread = reread_un(raw, 0);
    match crate::charset::decoded(reread.as_ref().unwrap_or(raw)) {
        std::borrow::Cow::Owned(decoded) => Some(decoded),
        std::borrow::Cow::Borrowed(_) => reread,
    }
}

/// `object` with every standard attribute stored as UN read again with its dictionary VR
/// (PS3.5 6.2.2: a UN value is the implicit VR little endian encoding of the value, a
/// sequence included), so that every rule sees a name as a name, a date as a date and a
/// sequence's items; `None` when there is none. The value is re-parsed as implicit VR
/// little endian after the object's Specific Character Set, which the parser applies.
fn reread_un(object: &InMemDicomObject, depth: usize) -> Option<InMemDicomObject> {
    use dicom_core::dictionary::DataDictionary;
    use dicom_core::header::Header;
    use dicom_core::value::{DataSetSequence, Value};
    use dicom_core::{DataElement, VR};
    use dicom_dictionary_std::StandardDataDictionary;
    if depth > gantry_store::MAX_SEQUENCE_DEPTH {
        return None;
    }
    let is_standard_un = |e: &InMemElement| {
        e.vr() == VR::UN
            && e.tag().group() % 2 == 0
            && StandardDataDictionary.by_tag(e.tag()).is_some()
    };
    let mut changed = false;
    let mut out = InMemDicomObject::new_empty();
    let mut blob = Vec::new();
    if let Some(charset) = object.get(Tag(0x0008, 0x0005))
        && let Ok(value) = charset.to_str()
    {
        let mut bytes = value.trim().as_bytes().to_vec();
        if bytes.len() % 2 == 1 {
            bytes.push(b' ');
        }
        push_implicit(&mut blob, Tag(0x0008, 0x0005), &bytes);
    }
    for element in object.iter() {
        match element.value() {
            Value::Primitive(p) if is_standard_un(element) => {
                push_implicit(&mut blob, element.tag(), &p.to_bytes());
                changed = true;
            }
            Value::Sequence(seq) => {
                let items: Vec<Option<InMemDicomObject>> = seq
                    .items()
                    .iter()
                    .map(|i| reread_un(i, depth + 1))
                    .collect();
                if items.iter().any(Option::is_some) {
                    changed = true;
                    let items: Vec<InMemDicomObject> = items
                        .into_iter()
                        .zip(seq.items())
                        .map(|(new, old)| new.unwrap_or_else(|| old.clone()))
                        .collect();
                    out.put(DataElement::new(
                        element.tag(),
                        VR::SQ,
                        DataSetSequence::from(items),
                    ));
                } else {
                    out.put(element.clone());
                }
            }
            _ => {
                out.put(element.clone());
            }
        }
    }
    if !changed {
        return None;
    }
    // Elements whose bytes do not parse under their dictionary VR stay UN: the rules read
    // UN as unknown content (removed unless a rule keeps it).
    let reread = blob_elements(&blob);
    for element in object.iter().filter(|e| is_standard_un(e)) {
        match reread.as_ref().and_then(|r| r.get(element.tag())) {
            Some(new) => {
                out.put(new.clone());
            }
            None => {
                out.put(element.clone());
            }
        }
    }
    Some(out)
}

fn push_implicit(blob: &mut Vec<u8>, tag: Tag, value: &[u8]) {
    blob.extend_from_slice(&tag.group().to_le_bytes());
    blob.extend_from_slice(&tag.element().to_le_bytes());
    blob.extend_from_slice(&(value.len() as u32).to_le_bytes());
    blob.extend_from_slice(value);
}

fn blob_elements(blob: &[u8]) -> Option<InMemDicomObject> {
    use dicom_encoding::TransferSyntaxIndex;
    let ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN)?;
    // The bytes are the source's: read only once every length in them is known to fit.
    gantry_store::read_dataset(blob, ts).ok()
}
