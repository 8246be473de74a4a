//! Test harness for the measurement tests (`kube_measure.rs`, `kube_soak.rs`):
//! a loopback fake Prometheus that answers every `query_range` with a
//! working-day demand computed for the requested range and step (the series
//! number is the digits of the query), and readers of the planscale process's
//! /proc entries and `/metrics`.
//!
//! Include with `#[path = "support/measure.rs"] mod measure_support;`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::fmt::Write as _;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

fn param<'a>(form: &'a str, key: &str) -> Option<&'a str> {
    form.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Jobs per step at unix time `t` for series `i`: a working-day bump.
pub fn demand(i: usize, t: i64) -> f64 {
    let hour = (t.rem_euclid(86_400)) / 3600;
    let base = 1.0 + (i % 5) as f64;
    if (8..16).contains(&hour) {
        base * 6.0
    } else {
        base
    }
}

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form = if body.is_empty() {
        query
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let json = if path.ends_with("/query_range") {
        let num = |k| {
            param(&form, k)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0) as i64
        };
        let (start, end, step) = (num("start"), num("end"), num("step").max(1));
        let q = param(&form, "query").unwrap_or("");
        let i: usize = q
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        let mut values = String::new();
        let mut t = start;
        while t <= end {
            if !values.is_empty() {
                values.push(',');
            }
            let _ = write!(values, "[{t},\"{}\"]", demand(i, t));
            t += step;
        }
        format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{values}]}}]}}}}"#
        )
    } else {
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.to_string()
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json)))
        .unwrap())
}

/// Start the fake Prometheus on a free loopback port (it lives as long as
/// the test's runtime); returns the port.
pub async fn fake_prometheus() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await;
            });
        }
    });
    port
}

/// A `kB` field of /proc/PID/status, e.g. `VmRSS:`.
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Threads of the process (entries of /proc/PID/task).
pub fn tasks(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// Open sockets of the process (links in /proc/PID/fd to `socket:[…]`).
pub fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// User + system CPU time of the process so far, in seconds (/proc/PID/stat).
pub fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

/// The sum of `planscale_<name>_sum` and `_count` over every policy on a
/// `/metrics` page, and the number of policies with the series.
pub fn histogram_totals(page: &str, name: &str) -> (f64, f64, usize) {
    let (mut sum, mut count, mut policies) = (0.0, 0.0, 0);
    let (s, c) = (
        format!("planscale_{name}_sum{{"),
        format!("planscale_{name}_count{{"),
    );
    for line in page.lines() {
        let value = || line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
        if line.starts_with(&s) {
            sum += value();
            policies += 1;
        } else if line.starts_with(&c) {
            count += value();
        }
    }
    (sum, count, policies)
}
