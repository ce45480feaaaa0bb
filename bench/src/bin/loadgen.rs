//! A small HTTP/1.1 load generator for `sentrie serve` benchmarks. Keep-alive connections,
//! one thread each. Closed loop (`--rate 0`: send as fast as responses come back) or open
//! loop at a fixed total rate, where latency is measured from each request's *scheduled* send
//! time so that a stalled server cannot hide its queueing (no coordinated omission).
//!
//! Usage: loadgen --addr 127.0.0.1:7529 --path /decision/ns/p --body FILE
//!                [--rate N] [--connections C] [--seconds S]
//! Prints one JSON object: requests, errors, achieved rate, p50/p90/p99/max latency in µs
//! from the scheduled time, and `service_*` percentiles from the actual send.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

struct Args {
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

/// Reads one response; returns its status.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
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
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
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
struct Samples {
    latency: Vec<u64>,
    service: Vec<u64>,
    errors: u64,
}

fn worker(a: &Args, start: Instant, interval: Option<Duration>, offset: Duration) -> Samples {
    let request = {
        let mut r = format!(
            "POST {} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            a.path,
            a.body.len()
        )
        .into_bytes();
        r.extend_from_slice(&a.body);
        r
    };
    let end = start + Duration::from_secs_f64(a.seconds);
    let mut out = Samples::default();
    let mut buf = Vec::with_capacity(4096);
    let Ok(mut s) = TcpStream::connect(&a.addr) else {
        out.errors = 1;
        return out;
    };
    let _ = s.set_nodelay(true);
    let mut next = start + offset;
    loop {
        let scheduled = match interval {
            Some(iv) => {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                let t = next;
                next += iv;
                t
            }
            None => Instant::now(),
        };
        if scheduled >= end {
            break;
        }
        let sent = Instant::now();
        match s
            .write_all(&request)
            .and_then(|()| read_response(&mut s, &mut buf))
        {
            Ok(200) => {
                out.latency.push(scheduled.elapsed().as_micros() as u64);
                out.service.push(sent.elapsed().as_micros() as u64);
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
    let interval = (a.rate > 0.0).then(|| Duration::from_secs_f64(a.connections as f64 / a.rate));
    let start = Instant::now() + Duration::from_millis(100);
    let results: Vec<Samples> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..a.connections)
            .map(|i| {
                let offset = interval.map_or(Duration::ZERO, |iv| {
                    iv.mul_f64(i as f64 / a.connections as f64)
                });
                let a = &a;
                scope.spawn(move || worker(a, start, interval, offset))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
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
        "{{\"requests\": {}, \"errors\": {errors}, \"rate_per_sec\": {:.0}, \"p50_us\": {}, \"p90_us\": {}, \"p99_us\": {}, \"max_us\": {}, \"service_p50_us\": {}, \"service_p99_us\": {}}}",
        lat.len(),
        lat.len() as f64 / a.seconds,
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat.last().copied().unwrap_or(0),
        pct(&svc, 0.5),
        pct(&svc, 0.99),
    );
}
