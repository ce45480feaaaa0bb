//! Prometheus metrics kept in atomics: requests by route and status, a decision latency
//! histogram, reloads and their failures, decision-log writes and drops.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub const ROUTES: [&str; 5] = ["decision", "health", "metrics", "openapi", "other"];
const STATUSES: [u16; 9] = [200, 400, 404, 405, 413, 500, 503, 204, 0];
/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

#[derive(Default)]
pub struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ROUTES.len()],
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    pub log_written: AtomicU64,
    pub log_dropped: AtomicU64,
}

impl Metrics {
    pub fn request(&self, route: usize, status: u16) {
        let s = STATUSES
            .iter()
            .position(|x| *x == status)
            .unwrap_or(STATUSES.len() - 1);
        self.requests[route.min(ROUTES.len() - 1)][s].fetch_add(1, Ordering::Relaxed);
    }

    pub fn decision_latency(&self, ns: u64) {
        let secs = ns as f64 / 1e9;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP sentrie_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE sentrie_http_requests_total counter\n");
        for (r, route) in ROUTES.iter().enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[r][s].load(Ordering::Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "sentrie_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        out.push_str(
            "# HELP sentrie_decision_duration_seconds Time to evaluate one decision request.\n",
        );
        out.push_str("# TYPE sentrie_decision_duration_seconds histogram\n");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "sentrie_decision_duration_seconds_bucket{{le=\"{b}\"}} {}",
                self.latency_buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "sentrie_decision_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "sentrie_decision_duration_seconds_sum {sum}");
        let _ = writeln!(out, "sentrie_decision_duration_seconds_count {count}");
        for (name, help, v) in [
            (
                "sentrie_pack_reloads_total",
                "Successful pack reloads.",
                &self.reloads,
            ),
            (
                "sentrie_pack_reload_failures_total",
                "Pack reloads rejected because the new pack failed to load.",
                &self.reload_failures,
            ),
            (
                "sentrie_decision_log_written_total",
                "Decision log lines written.",
                &self.log_written,
            ),
            (
                "sentrie_decision_log_dropped_total",
                "Decision log lines dropped because the queue was full.",
                &self.log_dropped,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        out
    }
}
