//! Compressed pixel data whose streams claim more than the header says, or far more than
//! their bytes can hold, is refused before a decoder allocates for it (a decoder sizes its
//! output from the stream and fills what the data lacks: 333 bytes of JPEG claiming
//! 65500 × 65500 cost 4 GB and 17 s), and what is refused says why. Real files decode.

use std::path::Path;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_object::InMemDicomObject;
use gantry_redact::{RedactError, decode};

/// The header (without pixel data), transfer syntax and fragments of a test file.
fn parts(name: &str) -> (InMemDicomObject, String, Vec<Vec<u8>>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/pydicom")
        .join(name);
    let file = dicom_object::open_file(&path).unwrap();
    let syntax = file.meta().transfer_syntax().to_string();
    let fragments = file
        .element(Tag(0x7FE0, 0x0010))
        .unwrap()
        .value()
        .fragments()
        .unwrap()
        .to_vec();
    let mut header = file.into_inner();
    header.remove_element(Tag(0x7FE0, 0x0010));
    (header, syntax, fragments)
}

fn set_us(header: &mut InMemDicomObject, element: u16, value: u16) {
    header.put(DataElement::new(
        Tag(0x0028, element),
        VR::US,
        PrimitiveValue::from(value),
    ));
}

fn refused(result: Result<gantry_redact::Decoded, RedactError>, says: &str) {
    match result {
        Err(RedactError::Codec(reason)) => assert!(reason.contains(says), "{reason}"),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(decoded) => panic!("decoded {} bytes", decoded.data.len()),
    }
}

#[test]
fn a_jpeg_frame_header_larger_than_the_dicom_header_is_refused_unread() {
    let (header, syntax, fragments) = parts("SC_rgb_jpeg_dcmtk.dcm");
    assert!(decode(&header, &syntax, vec![], fragments.clone()).is_ok());
    let sof = fragments[0]
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");

    // The stream claims 65500 × 65500 where the header says 100 × 100.
    let mut huge = fragments.clone();
    huge[0][sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xDC, 0xFF, 0xDC]);
    refused(
        decode(&header, &syntax, vec![], huge.clone()),
        "declares 65500 rows × 65500 columns × 3 samples where the header says",
    );
    // Both claim it: far more pixels than the bytes can code.
    let mut both = header.clone();
    set_us(&mut both, 0x0010, 65500);
    set_us(&mut both, 0x0011, 65500);
    refused(
        decode(&both, &syntax, vec![], huge.clone()),
        "more than 2000 to 1",
    );
    // And in 2^31 - 1 frames: a size past 64 bits is not a small one.
    both.put(DataElement::new(
        Tag(0x0028, 0x0008),
        VR::IS,
        PrimitiveValue::from("2147483647"),
    ));
    refused(decode(&both, &syntax, vec![], huge), "more than 2000 to 1");
    // One component where the header says three.
    let mut grey = fragments.clone();
    grey[0][sof + 9] = 1;
    refused(
        decode(&header, &syntax, vec![], grey),
        "× 1 samples where the header says",
    );
    // A scan before any frame header: nothing says what it decodes to.
    let mut headless = fragments.clone();
    headless[0][sof + 1] = 0xDA;
    refused(
        decode(&header, &syntax, vec![], headless),
        "no frame header before its scan",
    );
}

#[test]
fn a_frame_header_split_across_fragments_is_read_whole() {
    let (header, syntax, fragments) = parts("SC_rgb_jpeg_dcmtk.dcm");
    let whole = decode(&header, &syntax, vec![], fragments.clone()).unwrap();
    // The first frame's stream cut into pieces of 7 bytes and a rest (one frame).
    let stream = &fragments[0];
    let mut pieces: Vec<Vec<u8>> = stream[..70].chunks(7).map(|c| c.to_vec()).collect();
    pieces.push(stream[70..].to_vec());
    let mut single = header.clone();
    single.put(DataElement::new(
        Tag(0x0028, 0x0008),
        VR::IS,
        PrimitiveValue::from("1"),
    ));
    assert_eq!(whole.geometry.frames, 1);
    match decode(&single, &syntax, vec![], pieces.clone()) {
        Ok(split) => assert_eq!(split.data, whole.data),
        // The decoder may not join fragments; the size check must not be why.
        Err(e) => assert!(!e.to_string().contains("declares"), "{e}"),
    }
    // Cut the same way, the frame header still claiming 65500 rows is found.
    let sof = stream.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    let mut huge = stream.clone();
    huge[sof + 5..sof + 7].copy_from_slice(&[0xFF, 0xDC]);
    let mut pieces: Vec<Vec<u8>> = huge[..70].chunks(7).map(|c| c.to_vec()).collect();
    pieces.push(huge[70..].to_vec());
    refused(
        decode(&single, &syntax, vec![], pieces),
        "declares 65500 rows",
    );
}

#[test]
fn a_jpeg_2000_codestream_larger_than_the_header_is_refused_unread() {
    for name in ["MR_small_jp2klossless.dcm", "JPEG2000.dcm"] {
        let (header, syntax, fragments) = parts(name);
        assert!(
            decode(&header, &syntax, vec![], fragments.clone()).is_ok(),
            "{name}"
        );
        let siz = fragments[0]
            .windows(4)
            .position(|w| w == [0xFF, 0x4F, 0xFF, 0x51])
            .expect("SOC and SIZ");
        let mut huge = fragments.clone();
        // Xsiz and Ysiz: 60000 × 60000 on the reference grid.
        huge[0][siz + 8..siz + 16].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
        refused(
            decode(&header, &syntax, vec![], huge),
            "where the header says",
        );
        let mut components = fragments.clone();
        components[0][siz + 40..siz + 42].copy_from_slice(&[0x40, 0x00]);
        refused(
            decode(&header, &syntax, vec![], components),
            "× 16384 samples where the header says",
        );
    }
}
