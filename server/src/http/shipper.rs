//! Shipping the decision log to an HTTP collector (`--decision-log-url`): each batch of lines
//! is POSTed gzip-compressed (`Content-Encoding: gzip`, `application/x-ndjson`). A failed
//! post (no connection, a timeout, a 5xx or 429 answer) is retried with exponential backoff a
//! bounded number of times; then the batch is given up and its lines counted as failed. The
//! lines waiting meanwhile stay in the decision log's byte-bounded queue.

use std::io::Write;
use std::time::Duration;

/// Attempts per batch after the first.
const RETRIES: u32 = 5;
/// The first pause between attempts; doubled after each, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Time one attempt may take, connecting included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Shipper {
    url: String,
    agent: ureq::Agent,
}

impl Shipper {
    /// A shipper to `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Shipper, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(ATTEMPT_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Shipper {
            url: url.to_string(),
            agent,
        })
    }

    /// Posts one batch of lines, retrying as described above.
    pub fn post(&self, lines: &[u8]) -> std::io::Result<()> {
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(lines.len() / 4),
            flate2::Compression::fast(),
        );
        gz.write_all(lines)?;
        let body = gz.finish()?;
        let mut pause = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_BACKOFF);
            }
            let sent = self
                .agent
                .post(&self.url)
                .header("Content-Type", "application/x-ndjson")
                .header("Content-Encoding", "gzip")
                .send(&body[..]);
            match sent {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    last = format!("the collector answered {status}");
                    // A request the collector will never accept is not retried.
                    if status.is_client_error() && status.as_u16() != 429 {
                        break;
                    }
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(std::io::Error::other(format!(
            "cannot ship decision log lines to {}: {last}",
            self.url
        )))
    }
}
