//! The report to look at: one self-contained HTML file (no network, styles and images
//! inline) with the inventory, the findings of the last audit and verify by rule and tag,
//! the instances the last export blocked with their reasons and fixes, a before/after
//! thumbnail per device of a redacted image with its blanked zones drawn, and the
//! manifest. It reads what the checkpoints stored; it changes nothing.
//!
//! The "before" thumbnails show the original pixels, burned-in text included, and the
//! blocked list names source files: the file is written owner-only (0600), like the
//! database, and says so at its top.

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use base64ct::{Base64, Encoding};
use gantry_redact::{Geometry, Photometric, Rect};
use serde::Serialize;

use crate::error::{GantryError, Result};
use crate::risk::{RiskReport, Stage};
use crate::session::Session;

/// The longest side of a thumbnail, in pixels.
const THUMBNAIL: u32 = 240;
/// How many blocked instances and manifest rows the report lists (it says how many more).
const LISTED: usize = 500;

/// What [`Session::write_report`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HtmlReport {
    /// The file.
    #[serde(serialize_with = "crate::report::path_text")]
    pub path: PathBuf,
    /// Instances in the inventory.
    pub instances: u64,
    /// Instances the last export blocked.
    pub blocked: usize,
    /// Devices shown with a before/after thumbnail.
    pub thumbnails: usize,
    /// Files of the last export's manifest.
    pub manifest_files: usize,
    /// The report's size in bytes.
    pub bytes: u64,
}

impl fmt::Display for HtmlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wrote {} ({:.1} KB, mode 0600: it shows original pixels and source paths): {} instances, {} blocked, {} device thumbnails, {} manifest files",
            self.path.display(),
            self.bytes as f64 / 1e3,
            self.instances,
            self.blocked,
            self.thumbnails,
            self.manifest_files
        )
    }
}

/// Text made safe inside HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;padding:6px 10px;background:#e8eef5}\
h2.blocked{background:rgb(178,34,34);color:#fff}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f4}.warn{background:#fff4d6;padding:8px;border:1px solid #e0c060}\
.device{display:inline-block;margin:8px 16px 8px 0;vertical-align:top}\
.pair{display:flex;gap:12px}.frame{position:relative;display:inline-block;line-height:0}\
.zone{position:absolute;border:2px solid rgb(255,0,255);box-sizing:border-box}\
.muted{color:#777}code{font-size:12px}";

/// Counts of a report, as a two-column table, largest first.
fn counts(out: &mut String, title: &str, map: &BTreeMap<String, u64>) {
    if map.is_empty() {
        return;
    }
    let mut rows: Vec<(&String, &u64)> = map.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let _ = write!(
        out,
        "<table><tr><th>{}</th><th>findings</th></tr>",
        esc(title)
    );
    for (key, count) in rows.iter().take(40) {
        let _ = write!(out, "<tr><td>{}</td><td>{count}</td></tr>", esc(key));
    }
    if rows.len() > 40 {
        let _ = write!(
            out,
            "<tr><td colspan=2 class=muted>… and {} more</td></tr>",
            rows.len() - 40
        );
    }
    out.push_str("</table>");
}

fn risk_section(out: &mut String, title: &str, report: Option<&RiskReport>, missing: &str) {
    let _ = write!(out, "<h2>{}</h2>", esc(title));
    let Some(r) = report else {
        let _ = write!(out, "<p class=muted>{}</p>", esc(missing));
        return;
    };
    let _ = write!(
        out,
        "<p>{} instances checked: {} findings in {} instances ({} inside sequences), {} could not be checked{}. Rules: {}.</p>",
        r.instances,
        r.findings,
        r.instances_with_findings,
        r.nested,
        r.unreadable.len(),
        if r.waived > 0 {
            format!("; {} accepted by waivers", r.waived)
        } else {
            String::new()
        },
        esc(&r.profile)
    );
    counts(out, "rule", &r.by_rule);
    counts(out, "tag", &r.by_tag);
    counts(out, "waiver", &r.by_waiver);
}

/// A thumbnail: RGB bytes, width, height, the scale from the image, and the window its
/// grey levels were stretched over.
type Thumbnail = (Vec<u8>, u32, u32, f64, (f64, f64));

/// One frame of native samples as 8-bit RGB, scaled to fit [`THUMBNAIL`] (nearest
/// neighbour), grey stretched over `window`, or between its darkest and brightest sample
/// (so a before and an after image share one window, and look alike where they are).
fn thumbnail(data: &[u8], g: &Geometry, window: Option<(f64, f64)>) -> Option<Thumbnail> {
    let (rows, cols) = (g.rows as usize, g.columns as usize);
    let samples = g.samples_per_pixel as usize;
    let bytes = match g.bits_allocated {
        8 => 1,
        16 => 2,
        _ => return None,
    };
    if rows == 0 || cols == 0 || data.len() < rows * cols * samples * bytes {
        return None;
    }
    let value = |i: usize| -> f64 {
        if bytes == 1 {
            if g.signed {
                data[i] as i8 as f64
            } else {
                data[i] as f64
            }
        } else {
            let v = u16::from_le_bytes([data[2 * i], data[2 * i + 1]]);
            if g.signed { v as i16 as f64 } else { v as f64 }
        }
    };
    let sample = |r: usize, c: usize, s: usize| -> f64 {
        let pixel = r * cols + c;
        if samples == 1 {
            value(pixel)
        } else if g.planar {
            value(s * rows * cols + pixel)
        } else {
            value(pixel * samples + s)
        }
    };
    let scale = (THUMBNAIL as f64 / rows.max(cols) as f64).min(1.0);
    let (w, h) = (
        ((cols as f64 * scale).round() as u32).max(1),
        ((rows as f64 * scale).round() as u32).max(1),
    );
    let (mut lo, mut hi) = (f64::MAX, f64::MIN);
    let at = |x: u32, y: u32| {
        (
            ((y as f64 / scale) as usize).min(rows - 1),
            ((x as f64 / scale) as usize).min(cols - 1),
        )
    };
    match window {
        Some(given) => (lo, hi) = given,
        None => {
            for y in 0..h {
                for x in 0..w {
                    let (r, c) = at(x, y);
                    for s in 0..samples.min(3) {
                        let v = sample(r, c, s);
                        lo = lo.min(v);
                        hi = hi.max(v);
                    }
                }
            }
        }
    }
    let span = (hi - lo).max(1.0);
    let colour = samples == 3 && matches!(g.photometric, Photometric::Rgb);
    let invert = matches!(g.photometric, Photometric::Monochrome1);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let (r, c) = at(x, y);
            let level = |v: f64| {
                let t = ((v - lo) / span * 255.0).clamp(0.0, 255.0) as u8;
                if invert { 255 - t } else { t }
            };
            if colour {
                for s in 0..3 {
                    out.push(level(sample(r, c, s)));
                }
            } else {
                // Grey, palette indices and YBR's luminance alike: the first sample.
                let t = level(sample(r, c, 0));
                out.extend([t, t, t]);
            }
        }
    }
    Some((out, w, h, scale, (lo, hi)))
}

/// An 8-bit RGB image as a `data:` URI of a PNG.
fn png_uri(rgb: &[u8], w: u32, h: u32) -> Option<String> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(rgb).ok()?;
    }
    Some(format!(
        "data:image/png;base64,{}",
        Base64::encode_string(&bytes)
    ))
}

/// One thumbnail with the zones drawn over it.
fn framed(out: &mut String, uri: &str, w: u32, h: u32, scale: f64, zones: &[Rect], alt: &str) {
    let _ = write!(
        out,
        "<span class=frame><img src=\"{uri}\" width={w} height={h} alt=\"{}\">",
        esc(alt)
    );
    for z in zones {
        let _ = write!(
            out,
            "<span class=zone style=\"left:{:.0}px;top:{:.0}px;width:{:.0}px;height:{:.0}px\"></span>",
            z.col_start as f64 * scale,
            z.row_start as f64 * scale,
            ((z.col_end - z.col_start) as f64 * scale).max(2.0),
            ((z.row_end - z.row_start) as f64 * scale).max(2.0)
        );
    }
    out.push_str("</span>");
}

impl Session {
    /// Writes the HTML report of this session to `path` (owner-only): what the last
    /// ingest, audit, verify and export stored. Nothing in the database changes.
    pub fn write_report(&mut self, path: impl AsRef<Path>) -> Result<HtmlReport> {
        let path = path.as_ref();
        let inventory = self.examine()?;
        let audit = self.stored_report(Stage::Audit)?;
        let verify = self.stored_report(Stage::Verify)?;
        let export: Option<serde_json::Value> =
            match self.store.latest_report("export")? {
                Some((_, json)) => Some(serde_json::from_str(&json).map_err(|source| {
                    GantryError::StoredReport {
                        stage: "export",
                        source,
                    }
                })?),
                None => None,
            };

        let mut html = String::new();
        let _ = write!(
            html,
            "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Gantry report</title><style>{STYLE}</style></head><body>"
        );
        let _ = write!(
            html,
            "<h1>Gantry report</h1><p class=warn>This file shows original pixels (the “before” thumbnails, burned-in text included) and source file paths: keep it where the originals are (it is written owner-only).</p>"
        );

        // Inventory.
        let _ = write!(
            html,
            "<h2>Inventory</h2><p>{} instances of {} patients, {} studies, {} series.</p>",
            inventory.instances, inventory.patients, inventory.studies, inventory.series
        );
        html.push_str("<table><tr><th>manufacturer</th><th>model</th><th>serial</th><th>instances</th><th>series</th><th>modalities</th><th>Burned In Annotation YES</th></tr>");
        let text = |v: &Option<String>| esc(v.as_deref().unwrap_or("(none)"));
        for d in &inventory.devices {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&d.manufacturer),
                text(&d.model_name),
                text(&d.serial_number),
                d.instances,
                d.series,
                esc(&d.modalities.join(", ")),
                d.burned_in_yes
            );
        }
        html.push_str("</table>");

        // Blocked, with reasons and fixes.
        let blocked: Vec<&serde_json::Value> = export
            .as_ref()
            .and_then(|e| e["blocked"].as_array())
            .map(|b| b.iter().collect())
            .unwrap_or_default();
        let _ = write!(
            html,
            "<h2 class=blocked id=blocked>Blocked by the last export: {}</h2>",
            blocked.len()
        );
        match &export {
            None => html.push_str(
                "<p class=muted>No export has run: run <code>gantry export OUT</code>.</p>",
            ),
            Some(e) => {
                let _ = write!(
                    html,
                    "<p>Export to <code>{}</code> ({}): {} written, {} unchanged.</p>",
                    esc(e["out_dir"].as_str().unwrap_or("")),
                    if e["safe"].as_bool() == Some(false) {
                        "UNSAFE: the safe gate was off"
                    } else {
                        "safe gate on"
                    },
                    e["written"].as_u64().unwrap_or(0),
                    e["unchanged"].as_u64().unwrap_or(0)
                );
                if !blocked.is_empty() {
                    html.push_str("<table id=blocked-list><tr><th>source file</th><th>why, and the fix</th></tr>");
                    for b in blocked.iter().take(LISTED) {
                        let reasons: Vec<String> = b["reasons"]
                            .as_array()
                            .map(|r| r.iter().filter_map(|v| v.as_str()).map(esc).collect())
                            .unwrap_or_default();
                        let _ = write!(
                            html,
                            "<tr class=blocked-row><td><code>{}</code></td><td>{}</td></tr>",
                            esc(b["source_path"].as_str().unwrap_or("")),
                            reasons.join("<br>")
                        );
                    }
                    if blocked.len() > LISTED {
                        let _ = write!(
                            html,
                            "<tr><td colspan=2 class=muted>… and {} more (see <code>gantry export --json</code>)</td></tr>",
                            blocked.len() - LISTED
                        );
                    }
                    html.push_str("</table>");
                }
            }
        }

        // Before and after, per device.
        let thumbnails = self.device_thumbnails(&mut html)?;

        risk_section(
            &mut html,
            "Findings of the last audit (before de-identification)",
            audit.as_ref(),
            "No audit has run: run gantry audit.",
        );
        risk_section(
            &mut html,
            "Findings of the last verify (what would leave)",
            verify.as_ref(),
            "Verify has not run: run gantry verify.",
        );

        // The manifest.
        let mut manifest_files = 0;
        html.push_str("<h2>Manifest</h2>");
        let manifest = export
            .as_ref()
            .and_then(|e| e["manifest_json"].as_str())
            .filter(|p| !p.is_empty())
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        match manifest.as_ref().and_then(|m| m["files"].as_array()) {
            None => {
                html.push_str("<p class=muted>No manifest: run <code>gantry export OUT</code>.</p>")
            }
            Some(files) => {
                manifest_files = files.len();
                let _ = write!(
                    html,
                    "<p>{} files.</p><table><tr><th>path</th><th>SOP Instance UID</th><th>pixels</th><th>safe</th><th>waived</th></tr>",
                    files.len()
                );
                for file in files.iter().take(LISTED) {
                    let s = |k: &str| esc(file[k].as_str().unwrap_or(""));
                    let _ = write!(
                        html,
                        "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        s("path"),
                        s("sop_instance_uid"),
                        s("pixels"),
                        file["safe"].as_bool().unwrap_or(false),
                        s("waived")
                    );
                }
                if files.len() > LISTED {
                    let _ = write!(
                        html,
                        "<tr><td colspan=5 class=muted>… and {} more</td></tr>",
                        files.len() - LISTED
                    );
                }
                html.push_str("</table>");
            }
        }

        // A check the browser suite reads: how many thumbnails decoded.
        html.push_str(
            "<script>addEventListener('load',function(){var n=0;\
             document.querySelectorAll('img').forEach(function(i){if(i.complete&&i.naturalWidth>0)n++;});\
             document.body.setAttribute('data-images-decoded',String(n));});</script>",
        );
        let _ = writeln!(
            html,
            "<p class=muted>Gantry {}</p></body></html>",
            env!("CARGO_PKG_VERSION")
        );
        gantry_store::write_private(path, html.as_bytes()).map_err(|source| GantryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(HtmlReport {
            path: path.to_path_buf(),
            instances: inventory.instances,
            blocked: blocked.len(),
            thumbnails,
            manifest_files,
            bytes: html.len() as u64,
        })
    }

    /// Appends, for each device with a redacted image, the first one's before and after
    /// thumbnails (frame 1) with the blanked zones drawn; returns how many devices.
    fn device_thumbnails(&mut self, html: &mut String) -> Result<usize> {
        html.push_str("<h2 id=devices>Redaction, per device (frame 1, zones in magenta)</h2>");
        self.sidecar()?;
        let sidecar = self.sidecar.take();
        let mut done: HashSet<(Option<String>, Option<String>, Option<String>)> = HashSet::new();
        let mut shown = 0;
        let mut after = 0;
        let result = (|| -> Result<()> {
            loop {
                let batch = self.store.instances_after(after, 256)?;
                let Some(last) = batch.last() else { break };
                after = last.record.id;
                for stored in batch {
                    let Some(redacted) = &stored.redacted else {
                        continue;
                    };
                    let r = &stored.record;
                    let device = (
                        r.manufacturer.clone(),
                        r.model_name.clone(),
                        r.serial_number.clone(),
                    );
                    if done.contains(&device) {
                        continue;
                    }
                    let Ok(original) = crate::header::decode_original(&stored.original) else {
                        continue;
                    };
                    let Ok((before, g0)) = crate::pixels::read_source_pixels(r, &original) else {
                        continue;
                    };
                    let Ok((redacted_data, g1)) =
                        crate::pixels::read_redacted(redacted, &original, sidecar.as_ref())
                    else {
                        continue;
                    };
                    let zones: Vec<Rect> =
                        serde_json::from_str::<crate::pixels::Redaction>(&redacted.redaction)
                            .map(|d| d.applied.into_iter().chain(d.detected).collect())
                            .unwrap_or_default();
                    let Some((b, w, h, scale, window)) = thumbnail(&before, &g0, None) else {
                        continue;
                    };
                    let Some((a, w1, h1, _, _)) = thumbnail(&redacted_data, &g1, Some(window))
                    else {
                        continue;
                    };
                    let (Some(before_uri), Some(after_uri)) =
                        (png_uri(&b, w, h), png_uri(&a, w1, h1))
                    else {
                        continue;
                    };
                    done.insert(device.clone());
                    shown += 1;
                    let name = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                    let _ = write!(
                        html,
                        "<figure class=device><figcaption>{} / {} / {} ({}×{}, {} zone(s))</figcaption><div class=pair><div>before<br>",
                        esc(&name(&device.0)),
                        esc(&name(&device.1)),
                        esc(&name(&device.2)),
                        g0.columns,
                        g0.rows,
                        zones.len()
                    );
                    framed(html, &before_uri, w, h, scale, &zones, "before redaction");
                    html.push_str("</div><div>after<br>");
                    framed(html, &after_uri, w1, h1, scale, &[], "after redaction");
                    html.push_str("</div></div></figure>");
                }
            }
            Ok(())
        })();
        self.sidecar = sidecar;
        result?;
        if shown == 0 {
            html.push_str("<p class=muted>No image was redacted: run <code>gantry redact</code> with machine rules that have zones.</p>");
        }
        Ok(shown)
    }
}
