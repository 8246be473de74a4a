//! Test harness: a real Prometheus server (Debian's `prometheus` package) on a
//! free loopback port with its own data directory, optionally backfilled with
//! known data by `promtool tsdb create-blocks-from openmetrics`, and killed by
//! PID when dropped (also when a test panics).
//!
//! Include it with `#[path = "support/prometheus.rs"] mod prometheus_support;`.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the binaries are: `$PROMETHEUS` / `$PROMTOOL`, else on the PATH.
/// Panics with the setup command when they are missing: the integration
/// tests must run in CI, so a missing server is a failure, not a skip.
pub fn binary(name: &str) -> PathBuf {
    let var = name.to_ascii_uppercase();
    let found = match std::env::var_os(&var) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        }),
    };
    found.unwrap_or_else(|| {
        panic!(
            "{name} is not installed (not on PATH, or ${var} names no file): run `make test-setup` \
             (scripts/setup-prometheus.sh installs Debian's prometheus package)"
        )
    })
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// OpenMetrics text to backfill before start (timestamps in seconds, `# EOF` last).
    pub openmetrics: Option<String>,
    /// `--query.lookback-delta`; `None` keeps Prometheus's default (5m).
    pub lookback: Option<&'static str>,
    /// Contents of a `--web.config.file` (TLS, basic auth).
    pub web_config: Option<String>,
    /// Use https for the URL (with a web config that enables TLS).
    pub https: bool,
}

/// A running Prometheus; killed by PID on drop.
pub struct Prometheus {
    child: Option<Child>,
    pub port: u16,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The command line, for [`restart`](Self::restart).
    args: Vec<String>,
}

impl Prometheus {
    /// Backfill `openmetrics` (if any) and start a server on it.
    pub fn start(options: Options) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("planscale-prometheus-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        if let Some(text) = &options.openmetrics {
            backfill(dir.path(), &data, text);
        }
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            "global:\n  scrape_interval: 1h\nscrape_configs: []\n",
        )
        .unwrap();
        let mut last_log = String::new();
        // A free port can be taken between probing and binding: try a few.
        for _ in 0..3 {
            let port = free_port();
            let mut args = vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Backfilled data lies in the past; keep all of it.
                "--storage.tsdb.retention.time=100y".to_string(),
                "--log.level=info".to_string(),
            ];
            if let Some(lb) = options.lookback {
                args.push(format!("--query.lookback-delta={lb}"));
            }
            if let Some(web) = &options.web_config {
                let path = dir.path().join("web.yml");
                std::fs::write(&path, web).unwrap();
                args.push(format!("--web.config.file={}", path.display()));
            }
            let log_path = dir.path().join("prometheus.log");
            match spawn_ready(&args, &log_path) {
                Ok(child) => {
                    let scheme = if options.https { "https" } else { "http" };
                    return Prometheus {
                        child: Some(child),
                        port,
                        url: format!("{scheme}://127.0.0.1:{port}"),
                        dir,
                        args,
                    };
                }
                Err(log) => {
                    last_log = log;
                    if !last_log.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("prometheus did not become ready; its log:\n{last_log}");
    }

    /// Start the server again (after [`stop`](Self::stop)) on the same port,
    /// data directory and flags, and wait until it is ready.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a stopped server only");
        let log_path = self.dir.path().join("prometheus.log");
        match spawn_ready(&self.args, &log_path) {
            Ok(child) => self.child = Some(child),
            Err(log) => panic!("prometheus did not become ready again; its log:\n{log}"),
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kill the server (by its PID) and reap it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start Prometheus with `args`, its output appended to `log_path`, and wait
/// for "Server is ready to receive web requests." in the part of the log it
/// wrote; on failure (exit or 60 s) kill it and return that part of the log.
fn spawn_ready(args: &[String], log_path: &Path) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap();
    let from = log.metadata().map(|m| m.len() as usize).unwrap_or(0);
    let mut child = Command::new(binary("prometheus"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log_path).unwrap_or_default();
        let mine = text.get(from..).unwrap_or("").to_string();
        if mine.contains("Server is ready to receive web requests") {
            return Ok(child);
        }
        if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(mine);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn backfill(dir: &Path, data: &Path, text: &str) {
    let input = dir.join("backfill.om");
    std::fs::write(&input, text).unwrap();
    let out = Command::new(binary("promtool"))
        // Few large blocks: the 2h default makes ~100 blocks for a week and
        // takes seconds of fsyncs.
        .args([
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=240h",
        ])
        .arg(&input)
        .arg(data)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool tsdb create-blocks-from openmetrics failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One gauge series for [`openmetrics`]: name, labels (`queue="dose"`), and
/// `(unix seconds, value)` samples in time order.
pub struct Gauge<'a> {
    pub name: &'a str,
    pub labels: &'a str,
    pub samples: Vec<(i64, f64)>,
}

/// OpenMetrics text for promtool: one `# TYPE` per family, samples with
/// timestamps in seconds, `# EOF` last. Values are written in Rust's shortest
/// round-trip form, so they come back from Prometheus bit for bit.
pub fn openmetrics(series: &[Gauge]) -> String {
    let mut out = String::new();
    let mut typed: Vec<&str> = Vec::new();
    for g in series {
        if !typed.contains(&g.name) {
            writeln!(out, "# TYPE {} gauge", g.name).unwrap();
            typed.push(g.name);
        }
        let labels = if g.labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", g.labels)
        };
        for (t, v) in &g.samples {
            writeln!(out, "{}{labels} {v} {t}", g.name).unwrap();
        }
    }
    out.push_str("# EOF\n");
    out
}

/// A loopback TCP proxy in front of a server that calls `on_request` when the
/// `n`-th HTTP request (counted from 1, over all connections) starts, and
/// then drops that connection: used to stop Prometheus in the middle of a run
/// at a point that does not depend on timing.
pub struct Proxy {
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Proxy {
    pub fn start(
        upstream_port: u16,
        n: usize,
        on_request: impl Fn() + Send + Sync + 'static,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let fired = Arc::new(Mutex::new(false));
        let on_request: Arc<dyn Fn() + Send + Sync> = Arc::new(on_request);
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let (count, fired, on_request) = (count.clone(), fired.clone(), on_request.clone());
                std::thread::spawn(move || {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                        return;
                    };
                    pipe(client, server, n, &count, &fired, &*on_request);
                });
            }
        });
        Proxy {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            port,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn pipe(
    mut client: TcpStream,
    mut server: TcpStream,
    n: usize,
    count: &AtomicUsize,
    fired: &Mutex<bool>,
    on_request: &(dyn Fn() + Send + Sync),
) {
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut s2, &mut c2);
        let _ = c2.shutdown(Shutdown::Both);
    });
    let mut buf = [0u8; 8192];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let k = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => k,
        };
        // Count request heads (each ends with a blank line; form bodies hold no CR LF).
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(&buf[..k]);
        let heads = window.windows(4).filter(|w| w == b"\r\n\r\n").count();
        tail = window[window.len().saturating_sub(3)..].to_vec();
        let before = count.fetch_add(heads, Ordering::SeqCst);
        if before < n && before + heads >= n {
            let mut f = fired.lock().unwrap();
            if !*f {
                *f = true;
                on_request();
            }
        }
        if before + heads >= n {
            break;
        }
        if server.write_all(&buf[..k]).is_err() {
            break;
        }
    }
    let _ = server.shutdown(Shutdown::Both);
    let _ = client.shutdown(Shutdown::Both);
    let _ = back.join();
}

/// Certificates for a TLS test: a throw-away CA and a server certificate for
/// 127.0.0.1 that it signed, made with the `openssl` command.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Make a CA and a server certificate in `dir`.
pub fn make_tls_files(dir: &Path) -> TlsFiles {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl (Debian package openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=planscale test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// The password of [`BASIC_AUTH_USER`] in tests.
pub const BASIC_AUTH_PASSWORD: &str = "planscale-test-password";
pub const BASIC_AUTH_USER: &str = "planscale";
/// bcrypt (cost 4) of [`BASIC_AUTH_PASSWORD`], as Prometheus's web config
/// wants it; made with Python's `crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))`.
pub const BASIC_AUTH_BCRYPT: &str = "$2b$04$MRFym4wgJE7RpNWPoREvjO/NIcabUQPLBKz2ycoNK.dDjgqKjH31S";

/// A `--web.config.file` that serves TLS with `tls` and asks for basic auth.
pub fn web_config(tls: &TlsFiles) -> String {
    format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  {BASIC_AUTH_USER}: {BASIC_AUTH_BCRYPT}\n",
        tls.cert.display(),
        tls.key.display()
    )
}
