//! Every pixel layout: inside the zones every pixel is black, outside every byte is as it
//! was. Checked with an independent per-pixel reader, not with the blanking code.

use gantry_redact::{Fill, Geometry, Palette, Photometric, Rect, blank, first_unblanked};

/// The samples of one pixel, read the slow and obvious way.
fn pixel(data: &[u8], g: &Geometry, frame: u32, row: u32, col: u32) -> Vec<u32> {
    let (rows, cols) = (g.rows as usize, g.columns as usize);
    let (f, r, c) = (frame as usize, row as usize, col as usize);
    if g.bits_allocated == 1 {
        let bit = f * rows * cols + r * cols + c;
        return vec![((data[bit / 8] >> (bit % 8)) & 1) as u32];
    }
    let n = g.bits_allocated as usize / 8;
    let read = |at: usize| {
        let mut v = [0u8; 4];
        v[..n].copy_from_slice(&data[at..at + n]);
        u32::from_le_bytes(v)
    };
    if g.photometric == Photometric::YbrFull422 {
        let pair = f * rows * cols * 2 + r * cols * 2 + (c / 2) * 4;
        return vec![
            data[pair + c % 2] as u32,
            data[pair + 2] as u32,
            data[pair + 3] as u32,
        ];
    }
    let spp = g.samples_per_pixel as usize;
    let frame_len = rows * cols * spp * n;
    (0..spp)
        .map(|s| {
            let at = if g.planar {
                f * frame_len + s * rows * cols * n + (r * cols + c) * n
            } else {
                f * frame_len + ((r * cols + c) * spp + s) * n
            };
            read(at)
        })
        .collect()
}

fn layouts() -> Vec<(Geometry, Option<Palette>)> {
    let base = Geometry {
        rows: 13,
        columns: 18,
        frames: 3,
        samples_per_pixel: 1,
        bits_allocated: 16,
        bits_stored: 12,
        signed: false,
        planar: false,
        photometric: Photometric::Monochrome2,
    };
    let mono = |bits: u16, stored: u16, signed: bool, photometric: Photometric| Geometry {
        bits_allocated: bits,
        bits_stored: stored,
        signed,
        photometric,
        ..base.clone()
    };
    let colour = |bits: u16, planar: bool, photometric: Photometric| Geometry {
        samples_per_pixel: 3,
        bits_allocated: bits,
        bits_stored: bits,
        planar,
        photometric,
        ..base.clone()
    };
    let palette = Palette {
        first_mapped: 0,
        red: (0..256).map(|i| 65535 - i * 200).collect(),
        green: (0..256).map(|i| if i == 77 { 0 } else { 40000 }).collect(),
        blue: (0..256).map(|i| if i == 77 { 0 } else { 1000 }).collect(),
    };
    vec![
        (mono(1, 1, false, Photometric::Monochrome2), None),
        (mono(1, 1, false, Photometric::Monochrome1), None),
        (mono(8, 8, false, Photometric::Monochrome2), None),
        (mono(8, 8, true, Photometric::Monochrome1), None),
        (mono(16, 12, false, Photometric::Monochrome2), None),
        (mono(16, 12, true, Photometric::Monochrome2), None),
        (mono(16, 16, false, Photometric::Monochrome1), None),
        (mono(16, 16, true, Photometric::Monochrome1), None),
        (mono(32, 32, false, Photometric::Monochrome2), None),
        (mono(32, 24, true, Photometric::Monochrome1), None),
        (colour(8, false, Photometric::Rgb), None),
        (colour(8, true, Photometric::Rgb), None),
        (colour(16, false, Photometric::Rgb), None),
        (colour(16, true, Photometric::Rgb), None),
        (colour(8, false, Photometric::YbrFull), None),
        (colour(8, true, Photometric::YbrFull), None),
        (colour(8, false, Photometric::YbrFull422), None),
        (mono(8, 8, false, Photometric::PaletteColor), Some(palette)),
    ]
}

#[test]
fn every_layout_is_blank_inside_and_untouched_outside() {
    let zones = [
        Rect {
            row_start: 0,
            row_end: 3,
            col_start: 0,
            col_end: 18,
        },
        Rect {
            row_start: 5,
            row_end: 9,
            col_start: 3,
            col_end: 7,
        },
        // Overlaps the first, and runs past the image: clipped.
        Rect {
            row_start: 2,
            row_end: 40,
            col_start: 15,
            col_end: 99,
        },
    ];
    for (g, palette) in layouts() {
        let fill = Fill::black(&g, palette.as_ref()).unwrap();
        let original: Vec<u8> = (0..g.data_len())
            .map(|i| (i * 7919 % 253) as u8 + 1)
            .collect();
        let mut data = original.clone();
        let done = blank(&mut data, &g, &zones, &fill).unwrap();
        assert!(done.outside.is_empty());
        let expected: Vec<u32> = if g.photometric == Photometric::YbrFull422 {
            fill.samples.to_vec()
        } else {
            fill.samples[..g.samples_per_pixel as usize].to_vec()
        };
        for frame in 0..g.frames {
            for row in 0..g.rows {
                for col in 0..g.columns {
                    let inside = done.applied.iter().any(|z| z.contains(row, col));
                    let now = pixel(&data, &g, frame, row, col);
                    if inside {
                        assert_eq!(now, expected, "{g:?} frame {frame} ({row},{col}) inside");
                    } else {
                        assert_eq!(
                            now,
                            pixel(&original, &g, frame, row, col),
                            "{g:?} frame {frame} ({row},{col}) outside"
                        );
                    }
                }
            }
        }
        assert_eq!(
            first_unblanked(&data, &g, &done.applied, &fill).unwrap(),
            None,
            "{g:?}"
        );
        assert!(
            first_unblanked(&original, &g, &done.applied, &fill)
                .unwrap()
                .is_some(),
            "{g:?}: the check sees unblanked pixels"
        );
    }
}

#[test]
fn ybr_422_zones_widen_to_whole_pixel_pairs() {
    let g = Geometry {
        rows: 2,
        columns: 8,
        frames: 1,
        samples_per_pixel: 3,
        bits_allocated: 8,
        bits_stored: 8,
        signed: false,
        planar: false,
        photometric: Photometric::YbrFull422,
    };
    let mut data = vec![200u8; g.data_len()];
    let fill = Fill::black(&g, None).unwrap();
    let done = blank(
        &mut data,
        &g,
        &[Rect {
            row_start: 0,
            row_end: 1,
            col_start: 3,
            col_end: 5,
        }],
        &fill,
    )
    .unwrap();
    assert_eq!(
        done.applied,
        [Rect {
            row_start: 0,
            row_end: 1,
            col_start: 2,
            col_end: 6
        }]
    );
}

#[test]
fn zones_outside_the_image_are_reported_not_applied() {
    let g = Geometry::grey8(10, 10);
    let mut data = vec![9u8; 100];
    let far = Rect {
        row_start: 20,
        row_end: 30,
        col_start: 0,
        col_end: 5,
    };
    let empty = Rect {
        row_start: 5,
        row_end: 5,
        col_start: 0,
        col_end: 5,
    };
    let done = blank(
        &mut data,
        &g,
        &[far, empty],
        &Fill::black(&g, None).unwrap(),
    )
    .unwrap();
    assert_eq!(done.outside, [far, empty]);
    assert!(data.iter().all(|b| *b == 9));
}

#[test]
fn short_buffers_and_impossible_layouts_are_errors() {
    let g = Geometry {
        rows: 10,
        columns: 10,
        frames: 2,
        samples_per_pixel: 1,
        bits_allocated: 16,
        bits_stored: 12,
        signed: false,
        planar: false,
        photometric: Photometric::Monochrome2,
    };
    let fill = Fill::black(&g, None).unwrap();
    let zone = [Rect {
        row_start: 0,
        row_end: 1,
        col_start: 0,
        col_end: 1,
    }];
    assert!(blank(&mut [0u8; 399], &g, &zone, &fill).is_err());
    let odd = Geometry {
        bits_allocated: 12,
        ..g.clone()
    };
    assert!(blank(&mut [0u8; 400], &odd, &zone, &fill).is_err());
    let rgb_one = Geometry {
        photometric: Photometric::Rgb,
        ..g
    };
    assert!(blank(&mut [0u8; 400], &rgb_one, &zone, &fill).is_err());
}
