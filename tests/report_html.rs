//! `planscale simulate` (the bundled example) writes report.html: one file
//! that references nothing outside itself, with well-formed figures, that
//! headless Chromium renders without a console message. Chromium comes from
//! `scripts/setup-chromium.sh` (`make test-setup`); without it the Chromium
//! test fails and says so — it is never skipped.

#[path = "support/document.rs"]
mod document;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The figures `simulate` writes beside report.json, the busiest day first.
const FIGURES: [&str; 5] = [
    "chart.svg",
    "typical-week.svg",
    "replica-hours.svg",
    "daily.svg",
    "decisions.svg",
];

/// One bundled run shared by the tests of this file (a debug run takes
/// about half a minute here).
fn report_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_planscale"))
            .args(["simulate", "--out"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(report_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn report_html_is_self_contained_and_well_formed_with_every_figure_and_the_decisions() {
    let html = read("report.html");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert_eq!(document::external_references(&html), Vec::<String>::new());
    document::well_formed(&html, &["meta"]).unwrap();
    let svgs = document::inline_svgs(&html);
    assert_eq!(svgs.len(), FIGURES.len(), "one inline SVG per figure");
    for h in [
        "<h2>Summary</h2>",
        "<h2>1. The busiest day</h2>",
        "<h2>2. A typical week</h2>",
        "<h2>3. Cost over the window</h2>",
        "<h2>4. Each day</h2>",
        "<h2>5. Why planscale decided what it did, around the busiest spike</h2>",
    ] {
        assert!(html.contains(h), "{h} missing");
    }
    // The summary table has a row per strategy with report.json's attainment.
    let report: serde_json::Value = serde_json::from_str(&read("report.json")).unwrap();
    for (name, label) in [
        ("predictive", "predictive (planscale)"),
        ("hpa", "hpa (Kubernetes HPA)"),
        ("oracle", "oracle (perfect foresight)"),
    ] {
        let s = report["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in report.json"));
        let attainment = s["slo_attainment"].as_f64().unwrap() * 100.0;
        let row = format!("<td>{label}</td><td class=\"n\">{attainment:.2}%</td>");
        assert!(html.contains(&row), "{row} missing");
    }
    // The decision timeline lists decisions in words with the quantile and queue.
    assert!(html.contains("<th>p90 forecast used (jobs/min)</th><th>queue seen (jobs)</th>"));
    let worded = html.matches("<td>Asked for ").count() + html.matches("<td>Reduced to ").count();
    assert!(worded >= 10, "{worded} decisions listed");
    assert!(html.contains("The forecast decided: a replica asked for now is ready at"));
    assert!(html.contains("The queue decided: "));
}

#[test]
fn every_figure_file_is_well_formed_svg_referencing_nothing_outside() {
    for f in FIGURES {
        let svg = read(f);
        assert!(svg.starts_with("<svg width=\"1400\""), "{f}");
        assert!(svg.ends_with("</svg>\n"), "{f}");
        document::well_formed(&svg, &[]).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(
            document::external_references(&svg),
            Vec::<String>::new(),
            "{f}"
        );
        assert!(svg.contains("planscale"), "{f} has no title");
    }
    let md = read("report.md");
    for f in FIGURES {
        assert!(
            md.contains(&format!("]({f})")),
            "report.md does not link {f}"
        );
    }
    assert!(md.contains("[report.html](report.html)"));
}

/// Chromium from Debian, or a failure that says how to install it.
fn chromium() -> PathBuf {
    let found = Command::new("chromium")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "chromium is not installed: run `bash scripts/setup-chromium.sh` as root (or `make test-setup`)"
    );
    PathBuf::from("chromium")
}

/// Run headless Chromium on `page` with extra arguments; kill it after a minute.
fn headless(page: &Path, args: &[&str]) -> Output {
    let child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            // Any name lookup fails: a page that fetched something would say so.
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read its output on another thread (a full pipe would stall it) and
    // give it a minute.
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            // The child we started, by its id.
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("chromium did not finish within a minute");
        }
    }
}

/// Lines of Chromium's log that are about the page (console messages, failed
/// loads), not about the machine (D-Bus, GPU, sandbox warnings).
fn page_errors(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Uncaught")
                || l.contains("net::ERR")
                || l.contains("Failed to load")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn report_html_renders_in_headless_chromium_without_page_errors() {
    let page = report_dir().join("report.html");
    let dom = headless(&page, &["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    assert_eq!(page_errors(&dom.stderr), Vec::<String>::new());
    let dom = String::from_utf8_lossy(&dom.stdout);
    // Chromium parsed every figure as SVG and kept the tables.
    assert_eq!(
        dom.matches("<svg ").count(),
        FIGURES.len(),
        "{}",
        &dom[..dom.len().min(500)]
    );
    assert!(dom.contains("<h2>Summary</h2>"));

    let png = report_dir().join("report.png");
    let shot = headless(
        &page,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,2400",
        ],
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    assert_eq!(page_errors(&shot.stderr), Vec::<String>::new());
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1400 × 2400 page compresses to a few kB; the report's is ~350 kB.
    assert!(
        bytes.len() > 100_000,
        "{} bytes: the page looks empty",
        bytes.len()
    );
}
