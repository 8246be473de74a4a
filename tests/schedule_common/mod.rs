//! Shared by the schedule tests: fixture paths and a tiny HTTP server on
//! 127.0.0.1 (one request per connection, `Connection: close`), stopped and
//! joined when dropped.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Every name, identifier, contact and free-text note in the fixtures
/// (`tests/schedule_privacy.rs` checks that each occurs in one).
pub const PATIENT_TEXT: &[&str] = &[
    // exchange.ics
    "Zwiebelturm",
    "Wilhelmina",
    "Quirin",
    "Haselnuss",
    "4471-0923",
    "1957-02-11",
    "Kuckucksei",
    "Ottilie",
    "5520-1187",
    "Bartholom",
    "Wackelpudding",
    "6631-2234",
    "Hildegard",
    "Sonnenschirm",
    "Konstantin",
    "Mauerbl",
    "previous CT",
    "REMINDER",
    "later slot",
    "patient.example",
    "klinik.example",
    // google.ics
    "Mustermann",
    "Erika",
    "Tintenfass",
    "Friedrich",
    "PID-88231177",
    "5550192",
    "chtern erscheinen",
    "John",
    "PID-99120045",
    "bezahl",
    "Gundula",
    "Beispiel",
    "Lunch",
    "Nachtigall",
    "Ferdinand",
    "PID-10293847",
    "Sonnenblume",
    "Agathe",
    "Planungs",
    // CSV exports
    "Krawuttke",
    "Eberhard",
    "MRN-77234",
    "Pfefferkorn",
    "Amalie",
    "Zwetschge",
    "Liselotte",
    "Quendel",
    "Rosemarie",
    "Holzapfel",
    "Benno",
    "Blaubeer",
    "Theodor",
    "Gurkenglas",
    "Philippa",
    "PID-555",
    "Kontrastmittel",
    "Angst vor Enge",
    "claustrophobic",
    "old scans",
    // FHIR pages
    "Waldmeister",
    "Cornelius",
    "PID-4000",
    "1949-05-17",
    "Kieselstein",
    "Ludmilla",
    "prac-77",
    "Brausepulver",
    "Philomena",
    "Ofenrohr",
    "Severin",
    "pacemaker",
    "wheelchair",
    "Schnittlauch",
    "Walpurga",
    "Pfannkuchen",
    "Eustachius",
    "Streuselkuchen",
    "Kunigunde",
    "Fensterkitt",
    "Leopoldine",
    "arrive early",
    "in hospital",
    // malformed fixtures
    "Fliederbusch",
    "Adalbert",
    "mmelkorn",
    "KUEMMELKORN",
    "Agnes",
    "Rhabarber",
    "Gottlieb",
    "MRN-3390",
    "PID-3390",
    "Dienstag",
    "ruft an",
    "forty",
    "JEDEN-MONTAG",
    "no colon and names",
];

/// The entries of [`PATIENT_TEXT`] that occur in `text` (case-insensitive).
pub fn patient_text_in(text: &str) -> Vec<&'static str> {
    let text = text.to_lowercase();
    PATIENT_TEXT
        .iter()
        .copied()
        .filter(|w| text.contains(&w.to_lowercase()))
        .collect()
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schedule")
        .join(name)
}

pub fn read_fixture(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A route: request targets starting with `prefix` get `status` and `body`.
pub struct Route {
    pub prefix: String,
    pub status: u16,
    pub body: String,
}

pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Request targets (path and query) in arrival order.
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Bind a free loopback port and serve the routes `routes(base)` returns
    /// (longest matching prefix wins; others get 404).
    pub fn start(routes: impl FnOnce(&str) -> Vec<Route>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut routes = routes(&base);
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (req, stp) = (requests.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stp.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(s) = stream {
                    serve(s, &routes, &req);
                }
            }
        });
        TestServer {
            base,
            requests,
            stop,
            handle: Some(handle),
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut s: TcpStream, routes: &[Route], requests: &Mutex<Vec<String>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
    requests.lock().unwrap().push(target.clone());
    let (status, body) = routes
        .iter()
        .find(|r| target.starts_with(&r.prefix))
        .map(|r| (r.status, r.body.as_str()))
        .unwrap_or((404, "not found"));
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.base.trim_start_matches("http://"));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A server that answers a FHIR search with the two fixture pages.
pub fn fhir_server() -> TestServer {
    TestServer::start(|base| {
        let fhir = format!("{base}/fhir");
        vec![
            Route {
                prefix: "/fhir/Appointment?date=".into(),
                status: 200,
                body: read_fixture("fhir-page1.json").replace("{BASE}", &fhir),
            },
            Route {
                prefix: "/fhir/Appointment?_getpages=".into(),
                status: 200,
                body: read_fixture("fhir-page2.json").replace("{BASE}", &fhir),
            },
            Route {
                prefix: "/cal/google.ics".into(),
                status: 200,
                body: read_fixture("google.ics"),
            },
        ]
    })
}
