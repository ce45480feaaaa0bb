//! A small HTTP/1.1 load generator for `sentrie serve` benchmarks, over keep-alive
//! connections. Closed loop (`--rate 0`: one thread per connection, each sending as soon as its
//! previous response came back) or open loop at a fixed total rate (`paced.rs`: one thread
//! driving every connection), where latency is measured from each request's *scheduled* send
//! time so that a stalled server cannot hide its queueing (no coordinated omission).
//!
//! Usage: loadgen --addr 127.0.0.1:7529 --path /decision/ns/p --body FILE
//!                [--rate N] [--connections C] [--seconds S]
//! Prints one JSON object: requests, errors, achieved rate, p50/p90/p99/max latency in µs
//! from the scheduled time, and `service_*` percentiles from the actual send.

mod paced;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub(crate) struct Args {
    addr: String,
    path: String,
    body: Vec<u8>,
    rate: f64,
    connections: usize,
    seconds: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        addr: "127.0.0.1:7529".into(),
        path: "/health".into(),
        body: Vec::new(),
        rate: 0.0,
        connections: 16,
        seconds: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => a.addr = v,
            "--path" => a.path = v,
            "--body" => a.body = std::fs::read(&v).map_err(|e| format!("{v}: {e}"))?,
            "--rate" => a.rate = v.parse().map_err(|_| "bad --rate")?,
            "--connections" => a.connections = v.parse().map_err(|_| "bad --connections")?,
            "--seconds" => a.seconds = v.parse().map_err(|_| "bad --seconds")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

/// The status and whole length of the first response in `buf`, once all of it is there.
pub(crate) fn parse_response(buf: &[u8]) -> Option<(u16, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    let total = end + 4 + len;
    (buf.len() >= total).then_some((status, total))
}

/// The bytes of one request.
pub(crate) fn request_bytes(a: &Args) -> Vec<u8> {
    let mut r = format!(
        "POST {} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        a.path,
        a.body.len()
    )
    .into_bytes();
    r.extend_from_slice(&a.body);
    r
}

/// Reads one response; returns its status.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some((status, _)) = parse_response(buf) {
            return Ok(status);
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One connection's results: latencies from the scheduled send time, service times from the
/// actual send (what the server took, without the generator's own lateness), errors.
#[derive(Default)]
pub(crate) struct Samples {
    pub(crate) latency: Vec<u64>,
    pub(crate) service: Vec<u64>,
    pub(crate) errors: u64,
}

/// One closed-loop connection: sends as soon as the previous response came back.
fn worker(a: &Args, start: Instant) -> Samples {
    let request = request_bytes(a);
    let end = start + Duration::from_secs_f64(a.seconds);
    let mut out = Samples {
        latency: Vec::with_capacity(1 << 16),
        service: Vec::with_capacity(1 << 16),
        errors: 0,
    };
    let mut buf = Vec::with_capacity(4096);
    let Ok(mut s) = TcpStream::connect(&a.addr) else {
        out.errors = 1;
        return out;
    };
    let _ = s.set_nodelay(true);
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        match s
            .write_all(&request)
            .and_then(|()| read_response(&mut s, &mut buf))
        {
            Ok(200) => {
                let us = sent.elapsed().as_micros() as u64;
                out.latency.push(us);
                out.service.push(us);
            }
            _ => {
                out.errors += 1;
                match TcpStream::connect(&a.addr) {
                    Ok(n) => s = n,
                    Err(_) => break,
                }
            }
        }
    }
    out
}

fn pct(v: &[u64], q: f64) -> u64 {
    v.get(((v.len() as f64 - 1.0) * q).round().max(0.0) as usize)
        .copied()
        .unwrap_or(0)
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now() + Duration::from_millis(100);
    let results: Vec<Samples> = if a.rate > 0.0 {
        vec![paced::run(&a, start)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..a.connections)
                .map(|_| {
                    let a = &a;
                    scope.spawn(move || worker(a, start))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut lat: Vec<u64> = results
        .iter()
        .flat_map(|r| r.latency.iter().copied())
        .collect();
    let mut svc: Vec<u64> = results
        .iter()
        .flat_map(|r| r.service.iter().copied())
        .collect();
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    lat.sort_unstable();
    svc.sort_unstable();
    println!(
        "{{\"requests\": {}, \"errors\": {errors}, \"rate_per_sec\": {:.0}, \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"max_us\": {}, \"service_p50_us\": {}, \"service_p99_us\": {}, \"service_max_us\": {}}}",
        lat.len(),
        lat.len() as f64 / a.seconds,
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        pct(&svc, 0.5),
        pct(&svc, 0.99),
        svc.last().copied().unwrap_or(0),
    );
}
