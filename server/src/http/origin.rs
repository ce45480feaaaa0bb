//! Where a remote pack is fetched from: `http(s)://host/path` or `s3://bucket/key`, through
//! the `object_store` crate. A fetch is conditional (the ETag of the last pack seen, as
//! `If-None-Match`), bounded in size and time, and gives the bytes only: checking, signature
//! verification and activation are the poller's (`poll.rs`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::path::Path as StorePath;
use object_store::{ClientOptions, GetOptions, ObjectStore, RetryConfig};

/// The longest wait for a connection, within the request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not a pack URL: {1}")]
    Url(String, String),
    #[error("{0}")]
    Store(#[from] object_store::Error),
    #[error(
        "the pack at the origin is {size} bytes, more than the {limit} accepted (--max-pack-bytes)"
    )]
    TooLarge { size: u64, limit: u64 },
}

/// A remote pack location.
pub struct Origin {
    pub url: String,
    /// Bounds each request (and, times three, a whole poll with its retries).
    pub timeout: Duration,
    store: Arc<dyn ObjectStore>,
    path: StorePath,
    max_bytes: u64,
}

/// What a fetch found.
pub enum Fetched {
    /// The origin still has the version with the ETag we sent.
    NotModified,
    New {
        bytes: Vec<u8>,
        etag: Option<String>,
    },
}

impl Origin {
    /// Parses `url` and builds the client for it. S3 settings (credentials, region, endpoint
    /// such as `AWS_ENDPOINT_URL`) come from the standard `AWS_*` environment variables; an
    /// `http://` endpoint is allowed because the operator named it.
    /// `timeout` bounds each request to the origin, body included (`--fetch-timeout`).
    pub fn new(url: &str, max_bytes: u64, timeout: Duration) -> Result<Origin, FetchError> {
        let bad = |why: &str| FetchError::Url(url.to_string(), why.to_string());
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: timeout,
            ..RetryConfig::default()
        };
        let options = |allow_http: bool| {
            ClientOptions::new()
                .with_timeout(timeout)
                .with_connect_timeout(CONNECT_TIMEOUT.min(timeout))
                .with_allow_http(allow_http)
        };
        let (store, path): (Arc<dyn ObjectStore>, StorePath) = match parsed.scheme() {
            "s3" => {
                let bucket = parsed.host_str().filter(|b| !b.is_empty());
                if bucket.is_none() {
                    return Err(bad("an s3:// URL names a bucket: s3://BUCKET/KEY"));
                }
                let key = parsed.path().trim_start_matches('/');
                if key.is_empty() {
                    return Err(bad("an s3:// URL names an object key: s3://BUCKET/KEY"));
                }
                let builder = object_store::aws::AmazonS3Builder::from_env().with_url(url);
                let plain = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok())
                    .any(|e| e.starts_with("http://"));
                let store = builder
                    .with_client_options(options(plain))
                    .with_retry(retry)
                    .build()?;
                let path = StorePath::from_url_path(key).map_err(|e| bad(&e.to_string()))?;
                (Arc::new(store), path)
            }
            "http" | "https" => {
                let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
                let base = match parsed.port() {
                    Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
                    None => format!("{}://{host}", parsed.scheme()),
                };
                let key = parsed.path().trim_start_matches('/');
                if key.is_empty() {
                    return Err(bad("the URL names no file"));
                }
                if parsed.query().is_some() {
                    return Err(bad("query strings are not supported"));
                }
                let store = object_store::http::HttpBuilder::new()
                    .with_url(base)
                    .with_client_options(options(parsed.scheme() == "http"))
                    .with_retry(retry)
                    .build()?;
                (
                    Arc::new(store),
                    StorePath::from_url_path(key).map_err(|e| bad(&e.to_string()))?,
                )
            }
            other => {
                return Err(bad(&format!(
                    "scheme `{other}` is not supported (http, https or s3)"
                )))
            }
        };
        Ok(Origin {
            url: url.to_string(),
            timeout,
            store,
            path,
            max_bytes,
        })
    }

    /// Fetches the pack unless it still has `etag`. The body is read up to the size limit
    /// only: a larger object fails without being read to the end.
    pub async fn fetch(&self, etag: Option<&str>) -> Result<Fetched, FetchError> {
        let options = GetOptions {
            if_none_match: etag.map(str::to_string),
            ..GetOptions::default()
        };
        let result = match self.store.get_opts(&self.path, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) => return Ok(Fetched::NotModified),
            Err(e) => return Err(e.into()),
        };
        let size = result.meta.size;
        if size > self.max_bytes {
            return Err(FetchError::TooLarge {
                size,
                limit: self.max_bytes,
            });
        }
        let new_etag = result.meta.e_tag.clone();
        let mut stream = result.into_stream();
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if bytes.len() as u64 + chunk.len() as u64 > self.max_bytes {
                return Err(FetchError::TooLarge {
                    size: bytes.len() as u64 + chunk.len() as u64,
                    limit: self.max_bytes,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::New {
            bytes,
            etag: new_etag,
        })
    }
}
