//! Reading and addressing elements of a header, at any depth.

use std::fmt;

use dicom_core::Tag;
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use serde::Serialize;

/// A trimmed text value, or `None` when absent or not text.
pub fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.get(tag)?.to_str().ok()?;
    Some(
        value
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_string(),
    )
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

    /// This path's item `index`, then `tag` inside it.
    pub(crate) fn child(&self, index: usize, tag: Tag) -> TagPath {
        let mut steps = self.0.clone();
        if let Some(last) = steps.last_mut() {
            last.1 = Some(index as u32);
        }
        steps.push((tag, None));
        TagPath(steps)
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

impl Serialize for TagPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An original header as the rules read it: decoded, with text in code-extended character
/// sets decoded too ([`crate::charset::decoded`]).
pub(crate) fn decode_original(blob: &[u8]) -> Result<InMemDicomObject, String> {
    let header = gantry_store::decode_header(blob)?;
    Ok(match crate::charset::decoded(&header) {
        std::borrow::Cow::Borrowed(_) => header,
        std::borrow::Cow::Owned(decoded) => decoded,
    })
}
