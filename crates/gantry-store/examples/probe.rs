use dicom_core::header::Header;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        match gantry_store::read_source(&p) {
            Err(r) => println!("SKIP {name}: {r}"),
            Ok(s) => {
                let full = dicom_object::OpenFileOptions::new().open_file(&p);
                let cmp = match (&s.pixels, &full) {
                    (Some(loc), Ok(obj)) => {
                        let bytes = gantry_store::open_pixel_value(&p, loc, s.stamp).unwrap().read_all(loc.length).unwrap();
                        match obj.element(dicom_dictionary_std::tags::PIXEL_DATA) {
                            Ok(e) => match e.value() {
                                dicom_core::value::Value::PixelSequence(seq) => {
                                    let (_t, frags) = gantry_store::split_fragments(&bytes).unwrap();
                                    if frags.len() == seq.fragments().len() && frags.iter().zip(seq.fragments()).all(|(a,b)| a==b) {"frag-ok".to_string()} else {"FRAG-DIFF".to_string()}
                                }
                                v => { let want = v.to_bytes().unwrap(); if want.as_ref()==bytes.as_slice() {"px-ok".into()} else { format!("PX-DIFF {} vs {}", want.len(), bytes.len()) } }
                            },
                            Err(_) => "no-px-in-full".into(),
                        }
                    }
                    (None, Ok(obj)) => if obj.element(dicom_dictionary_std::tags::PIXEL_DATA).is_ok() {"MISSED-PX".into()} else {"nopx".into()},
                    (_, Err(e)) => format!("full-read-failed: {e}"),
                };
                let n = s.header.iter().count();
                let nfull = full.as_ref().map(|o| o.iter().filter(|e| e.tag() != dicom_dictionary_std::tags::PIXEL_DATA).count()).unwrap_or(0);
                println!("OK   {name}: ts={} guessed={:?} elems={n}/{nfull} px={:?} {cmp} notes={:?}", s.syntax.uid, s.syntax.guessed.is_some(), s.pixels.as_ref().map(|p| (&p.layout, p.offset, p.length)), s.notes);
                if let Err(e) = gantry_store::encode_header(&s.header) { println!("     ENCODE FAIL: {e}"); }
            }
        }
    }
}
