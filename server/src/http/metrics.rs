//! Prometheus metrics on `prometheus-client`: requests by route and status, a decision
//! latency histogram, reloads and their failures, decision-log writes and drops, arena
//! shrinks and the memo caches' size and drops. Exposed in
//! the OpenMetrics text format, which Prometheus scrapes natively.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub const ROUTES: [&str; 9] = [
    "decision",
    "health",
    "metrics",
    "openapi",
    "other",
    "ready",
    "batch",
    "authz",
    "ext_authz",
];
/// Statuses counted by number; anything else is `other`.
const STATUSES: [u16; 8] = [200, 204, 400, 404, 405, 413, 500, 503];
/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: Status,
}

/// A status label: the number, or `other`.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Status(u16);

impl prometheus_client::encoding::EncodeLabelValue for Status {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>,
    ) -> std::fmt::Result {
        use std::fmt::Write;
        if self.0 == 0 {
            encoder.write_str("other")
        } else {
            write!(encoder, "{}", self.0)
        }
    }
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Histogram,
    pub reloads: Counter,
    pub reload_failures: Counter,
    pub pack_fetches: Counter,
    pub pack_fetch_failures: Counter,
    pub pack_cache_failures: Counter,
    pub log_written: Counter,
    pub log_dropped: Counter,
    pub log_failed: Counter,
    arena_shrinks: Counter,
    pub shadow_agreements: Counter,
    pub shadow_disagreements: Counter,
    pub shadow_skipped: Counter,
}

/// Figures kept by `sentrie_modules` for the whole process, read at each scrape.
#[derive(Debug)]
struct ModuleStats;

impl prometheus_client::collector::Collector for ModuleStats {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let (held, dropped) = sentrie_modules::memo::stats();
        let gauge = ConstGauge::new(held as i64);
        gauge.encode(encoder.encode_descriptor(
            "sentrie_memo_bytes",
            "Bytes held by the memo caches of the loaded packs",
            None,
            gauge.metric_type(),
        )?)?;
        let counter = ConstCounter::new(dropped);
        counter.encode(encoder.encode_descriptor(
            "sentrie_memo_dropped",
            "Memoized results not kept, or evicted, because a cache was at its byte budget",
            None,
            counter.metric_type(),
        )?)?;
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "sentrie_http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency = Histogram::new(BUCKETS);
        registry.register(
            "sentrie_decision_duration_seconds",
            "Time to evaluate one decision request",
            latency.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        Metrics {
            reloads: counter(
                &mut registry,
                "sentrie_pack_reloads",
                "Successful pack reloads",
            ),
            reload_failures: counter(
                &mut registry,
                "sentrie_pack_reload_failures",
                "Pack reloads rejected because the new pack failed to load",
            ),
            pack_fetches: counter(
                &mut registry,
                "sentrie_pack_fetches",
                "New pack versions fetched from a remote origin (served or refused)",
            ),
            pack_fetch_failures: counter(
                &mut registry,
                "sentrie_pack_fetch_failures",
                "Polls of a remote origin that failed (unreachable, error status, too large, timed out)",
            ),
            pack_cache_failures: counter(
                &mut registry,
                "sentrie_pack_cache_write_failures",
                "Fetched packs that could not be stored in the cache directory",
            ),
            log_written: counter(
                &mut registry,
                "sentrie_decision_log_written",
                "Decision log lines written",
            ),
            log_dropped: counter(
                &mut registry,
                "sentrie_decision_log_dropped",
                "Decision log lines dropped because the queue was full",
            ),
            log_failed: counter(
                &mut registry,
                "sentrie_decision_log_write_failures",
                "Decision log lines whose write failed (disk full, file-size limit, closed output)",
            ),
            arena_shrinks: counter(
                &mut registry,
                "sentrie_arena_shrinks",
                "Evaluation arenas freed after a decision grew them past --arena-keep-bytes",
            ),
            shadow_agreements: counter(
                &mut registry,
                "sentrie_shadow_agreements",
                "Requests on which the shadow pack decided as the primary did",
            ),
            shadow_disagreements: counter(
                &mut registry,
                "sentrie_shadow_disagreements",
                "Requests on which the shadow pack decided differently (each logged)",
            ),
            shadow_skipped: counter(
                &mut registry,
                "sentrie_shadow_skipped",
                "Requests not compared because the shadow queue was full",
            ),
            registry: {
                registry.register_collector(Box::new(ModuleStats));
                registry
            },
            requests,
            latency,
        }
    }
}

impl Metrics {
    pub fn request(&self, route: usize, status: u16) {
        let status = if STATUSES.contains(&status) {
            status
        } else {
            0
        };
        let labels = RequestLabels {
            route: ROUTES[route.min(ROUTES.len() - 1)],
            status: Status(status),
        };
        self.requests.get_or_create(&labels).inc();
    }

    pub fn arena_shrunk(&self) {
        self.arena_shrinks.inc();
    }

    pub fn decision_latency(&self, ns: u64) {
        self.latency.observe(ns as f64 / 1e9);
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_the_histogram() {
        let m = Metrics::default();
        m.request(0, 200);
        m.request(0, 200);
        m.request(4, 418);
        m.decision_latency(200_000);
        m.reload_failures.inc();
        let text = m.render();
        assert!(
            text.contains("sentrie_http_requests_total{route=\"decision\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("sentrie_http_requests_total{route=\"other\",status=\"other\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sentrie_decision_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("sentrie_pack_reload_failures_total 1"),
            "{text}"
        );
        assert!(
            text.contains("sentrie_decision_log_dropped_total 0"),
            "{text}"
        );
        assert!(text.contains("sentrie_memo_bytes "), "{text}");
        assert!(text.contains("sentrie_memo_dropped_total "), "{text}");
        assert!(text.contains("sentrie_arena_shrinks_total 0"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
