//! The HTML report: one self-contained, owner-only file with the blocked list (reasons and
//! fixes), a before/after thumbnail per redacted device and the manifest. The hermetic
//! test reads the file; the browser suite (`--ignored`, needs Debian's `chromium`, run by
//! `.ci/run`) renders it in headless Chromium and looks at the screenshot.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_core::Session;
use gantry_synth::{Device, DumpSpec, generate};

/// A run on the synthetic dump with rules for every device but the screen captures
/// (blocked), and its report.
fn reported(
    dir: &Path,
) -> (
    PathBuf,
    gantry_core::HtmlReport,
    gantry_synth::SyntheticDump,
) {
    let dump = generate(&dir.join("dump"), &DumpSpec::default()).unwrap();
    let work = dir.join("work");
    std::fs::create_dir(&work).unwrap();
    let config = format!(
        "version: \"2.0\"\n{}",
        dump.machine_rules_for(|d| d != Device::ScreenCapture)
    );
    let export = common::run_checkpoints(&work, &dump.root, &config, true);
    assert!(!export.blocked.is_empty());
    let mut session = Session::open(work.join("gantry.db")).unwrap();
    let path = dir.join("report.html");
    let report = session.write_report(&path).unwrap();
    (path, report, dump)
}

#[test]
fn the_report_lists_the_blocked_with_fixes_and_shows_each_redacted_device() {
    let dir = tempfile::tempdir().unwrap();
    let (path, report, dump) = reported(dir.path());
    let html = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o077,
        0,
        "it shows original pixels: owner-only"
    );
    // Self-contained: nothing is fetched.
    for remote in ["http://", "https://", "src=\"/", "href=\"http"] {
        assert!(!html.contains(remote), "{remote}");
    }
    let screen_captures = dump
        .instances
        .iter()
        .filter(|i| i.device == Device::ScreenCapture)
        .count();
    assert_eq!(report.blocked, screen_captures);
    assert_eq!(html.matches("class=blocked-row").count(), screen_captures);
    assert!(html.contains("fix: "));
    // Every device whose images were redacted has its thumbnails (two PNGs each).
    let redacted_devices = [Device::AcmeUs, Device::GeLogiqUs].len();
    assert!(report.thumbnails >= redacted_devices, "{report}");
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        2 * report.thumbnails
    );
    assert!(html.contains("class=zone"));
    assert_eq!(report.manifest_files as u64, {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("work/out/manifest.json")).unwrap(),
        )
        .unwrap();
        m["files"].as_array().unwrap().len() as u64
    });
    // No planted value of a patient is in the report's text (the paths aside, which are
    // the operator's own, and the pixels).
    let without_paths: String = html
        .split("<code>")
        .map(|part| part.split_once("</code>").map_or(part, |(_, rest)| rest))
        .collect();
    for patient in &dump.patients {
        for planted in [&patient.mrn, &patient.phone, &patient.address] {
            assert!(!without_paths.contains(planted.as_str()), "{planted}");
        }
    }
}

/// Chromium's binary, as Debian installs it.
fn chromium() -> &'static str {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .unwrap_or("chromium")
}

fn headless(args: &[&str], page: &Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
#[ignore = "needs Debian's chromium (headless); run by .ci/run"]
fn the_report_renders_in_chromium_with_the_blocked_list_and_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let (path, report, _) = reported(dir.path());

    // The DOM after load: the images decoded, and no script error on the console.
    let dom = headless(&["--dump-dom", "--virtual-time-budget=5000"], &path);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let text = String::from_utf8_lossy(&dom.stdout);
    let decoded = text
        .split("data-images-decoded=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("the page's load handler ran");
    assert_eq!(decoded, 2 * report.thumbnails, "every thumbnail decodes");
    let console = String::from_utf8_lossy(&dom.stderr);
    for line in console.lines() {
        assert!(
            !(line.contains("CONSOLE") && (line.contains("rror") || line.contains("Uncaught"))),
            "console error: {line}"
        );
    }

    // The screenshot: the blocked list's heading (firebrick) and a thumbnail with its
    // zones (magenta frames) are on screen.
    let shot = dir.path().join("shot.png");
    let out = headless(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
        ],
        &path,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buffer[..info.buffer_size()];
    let count = |rgb: [u8; 3]| {
        pixels
            .chunks(channels)
            .filter(|p| p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2])
            .count()
    };
    let heading = count([178, 34, 34]);
    let zones = count([255, 0, 255]);
    // Thumbnail pixels: grey levels that are neither the page's white nor its text.
    let grey = pixels
        .chunks(channels)
        .filter(|p| p[0] == p[1] && p[1] == p[2] && p[0] > 40 && p[0] < 215)
        .count();
    assert!(
        heading > 5_000,
        "the blocked list's heading is not on screen ({heading} px)"
    );
    assert!(zones > 200, "no zone frame is on screen ({zones} px)");
    assert!(grey > 5_000, "no thumbnail is on screen ({grey} px)");
}
