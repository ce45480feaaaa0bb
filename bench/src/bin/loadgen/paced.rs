//! The open loop: one thread drives every connection (non-blocking sockets on epoll, through
//! mio), so that on a small machine the generator adds one runnable thread, not one per
//! connection. Request `i` is due at `start + i / rate`; it goes out on the first idle
//! connection once due, and its latency counts from when it was due: time spent waiting for a
//! free connection or behind a slow server is measured, not hidden.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::{parse_response, request_bytes, Args, Samples};

/// How long in-flight requests may take to finish after the last one was due.
const DRAIN: Duration = Duration::from_secs(5);

struct Conn {
    stream: TcpStream,
    /// Request bytes not written yet (a full send buffer).
    pending: usize,
    input: Vec<u8>,
    /// (due, sent) of the request in flight.
    inflight: Option<(Instant, Instant)>,
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let s = std::net::TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(TcpStream::from_std(s))
}

pub fn run(a: &Args, start: Instant) -> Samples {
    let total = (a.seconds * a.rate).round() as usize;
    let mut out = Samples {
        latency: Vec::with_capacity(total),
        service: Vec::with_capacity(total),
        errors: 0,
    };
    let request = request_bytes(a);
    let Ok(mut poll) = Poll::new() else {
        out.errors = total as u64;
        return out;
    };
    let mut conns = Vec::new();
    for i in 0..a.connections.max(1) {
        let Ok(mut stream) = connect(&a.addr) else {
            continue;
        };
        if poll
            .registry()
            .register(&mut stream, Token(i), Interest::READABLE)
            .is_ok()
        {
            conns.push(Conn {
                stream,
                pending: 0,
                input: Vec::with_capacity(4096),
                inflight: None,
            });
        }
    }
    if conns.is_empty() {
        out.errors = total as u64;
        return out;
    }
    let due = |i: usize| start + Duration::from_secs_f64(i as f64 / a.rate);
    let last_due = due(total);
    let mut idle: Vec<usize> = (0..conns.len()).rev().collect();
    let mut events = Events::with_capacity(64);
    let mut issued = 0;
    loop {
        let now = Instant::now();
        while issued < total && due(issued) <= now {
            let Some(c) = idle.pop() else { break };
            send(&mut conns[c], &request, due(issued), &poll, c);
            issued += 1;
        }
        let in_flight = conns.len() - idle.len();
        if (issued >= total && in_flight == 0) || now > last_due + DRAIN {
            out.errors += in_flight as u64 + (total - issued) as u64;
            break;
        }
        let wait = if issued < total && !idle.is_empty() {
            due(issued).saturating_duration_since(now)
        } else {
            Duration::from_millis(50)
        };
        if in_flight == 0 {
            // Nothing can arrive: sleep to the next due time (epoll waits whole milliseconds).
            std::thread::sleep(wait);
            continue;
        }
        if poll.poll(&mut events, Some(wait)).is_err() {
            continue;
        }
        for ev in events.iter() {
            let c = ev.token().0;
            if ev.is_writable() {
                flush(&mut conns[c], &request, &poll, c);
            }
            if ev.is_readable() && receive(&mut conns[c], &mut out, &a.addr, &poll, c) {
                idle.push(c);
            }
        }
    }
    out
}

/// Starts a request on an idle connection (a failed write shows as a closed connection when
/// reading, which counts the error).
fn send(conn: &mut Conn, request: &[u8], due: Instant, poll: &Poll, token: usize) {
    conn.inflight = Some((due, Instant::now()));
    conn.pending = request.len();
    flush(conn, request, poll, token);
}

/// Writes what is left of the request; waits for writability when the send buffer is full.
fn flush(conn: &mut Conn, request: &[u8], poll: &Poll, token: usize) {
    while conn.pending > 0 {
        let from = request.len() - conn.pending;
        match conn.stream.write(&request[from..]) {
            Ok(n) => conn.pending -= n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => break,
        }
    }
    let interest = if conn.pending > 0 {
        Interest::READABLE | Interest::WRITABLE
    } else {
        Interest::READABLE
    };
    let _ = poll
        .registry()
        .reregister(&mut conn.stream, Token(token), interest);
}

/// Reads what arrived; true when the connection's response is complete (it is idle again).
fn receive(conn: &mut Conn, out: &mut Samples, addr: &str, poll: &Poll, token: usize) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return reconnect(conn, out, addr, poll, token),
            Ok(n) => conn.input.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return reconnect(conn, out, addr, poll, token),
        }
    }
    let Some((status, len)) = parse_response(&conn.input) else {
        return false;
    };
    let at = Instant::now();
    conn.input.drain(..len);
    let Some((due, sent)) = conn.inflight.take() else {
        return false;
    };
    if status == 200 {
        out.latency.push(at.duration_since(due).as_micros() as u64);
        out.service.push(at.duration_since(sent).as_micros() as u64);
    } else {
        out.errors += 1;
    }
    true
}

/// The server closed the connection: the request in flight failed; a new connection takes
/// its place (idle when it could be made).
fn reconnect(conn: &mut Conn, out: &mut Samples, addr: &str, poll: &Poll, token: usize) -> bool {
    out.errors += u64::from(conn.inflight.take().is_some());
    let _ = poll.registry().deregister(&mut conn.stream);
    conn.input.clear();
    conn.pending = 0;
    match connect(addr) {
        Ok(mut s) => {
            let ok = poll
                .registry()
                .register(&mut s, Token(token), Interest::READABLE)
                .is_ok();
            conn.stream = s;
            ok
        }
        Err(_) => false,
    }
}
