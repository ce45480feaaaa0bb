//! `--listen` values (HTTP_API.md §1): keywords or addresses, repeatable and comma-separated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

const KEYWORDS: [&str; 7] = [
    "local", "all", "local4", "local6", "network4", "network6", "network",
];

/// Resolves the listen values to socket addresses (duplicates removed, order kept).
pub fn addresses(values: &[String], port: u16) -> Result<Vec<SocketAddr>, String> {
    let items: Vec<String> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let items = if items.is_empty() {
        vec!["local".to_string()]
    } else {
        items
    };
    if items.len() > 1 && items.iter().any(|i| KEYWORDS.contains(&i.as_str())) {
        return Err(format!(
            "a listen keyword must be the only value, found: {}",
            items.join(",")
        ));
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for item in &items {
        let addrs: Vec<SocketAddr> = match item.as_str() {
            "local" | "local4" => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)],
            "local6" => vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)],
            "all" | "network4" => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)],
            "network6" | "network" => {
                vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)]
            }
            other => {
                let bare = other.trim_start_matches('[').trim_end_matches(']');
                match bare.parse::<IpAddr>() {
                    Ok(ip) => vec![SocketAddr::new(ip, port)],
                    Err(_) => (other, port)
                        .to_socket_addrs()
                        .map_err(|e| format!("cannot resolve listen address `{other}`: {e}"))?
                        .take(1)
                        .collect(),
                }
            }
        };
        for a in addrs {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// Where the server listens and how.
pub struct Listeners {
    pub tcp: Vec<std::net::SocketAddr>,
    pub unix: Vec<PathBuf>,
    /// `--metrics-listen`: `/metrics` (with `/health` and `/ready`) on addresses of its own.
    pub metrics: Vec<std::net::SocketAddr>,
    pub tls: Option<(rustls::ServerConfig, Arc<super::tls::Certificate>)>,
}

impl Listeners {
    pub fn from(opts: &super::Options) -> Result<Listeners, String> {
        let values: Vec<String> = opts
            .listen
            .iter()
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let (unix, tcp): (Vec<String>, Vec<String>) =
            values.into_iter().partition(|v| v.starts_with("unix:"));
        let unix: Vec<PathBuf> = unix
            .iter()
            .map(|u| PathBuf::from(u.trim_start_matches("unix:")))
            .collect();
        if unix.iter().any(|p| p.as_os_str().is_empty()) {
            return Err("`unix:` needs a socket path: --listen unix:/run/sentrie.sock".into());
        }
        // Only Unix sockets asked for: no TCP listener at all.
        let tcp = if tcp.is_empty() && !unix.is_empty() {
            Vec::new()
        } else {
            addresses(&tcp, opts.port)?
        };
        let metrics = match &opts.metrics_listen {
            Some(m) => {
                use std::net::ToSocketAddrs;
                let addrs: Vec<std::net::SocketAddr> = m
                    .to_socket_addrs()
                    .map_err(|e| format!("--metrics-listen `{m}`: {e} (expected HOST:PORT)"))?
                    .take(1)
                    .collect();
                if addrs.is_empty() {
                    return Err(format!("--metrics-listen `{m}` resolves to no address"));
                }
                addrs
            }
            None => Vec::new(),
        };
        let tls = match &opts.tls {
            Some(t) => {
                if !unix.is_empty() && tcp.is_empty() {
                    return Err("TLS applies to TCP listeners; none is configured".into());
                }
                Some(super::tls::server_config(t)?)
            }
            None => None,
        };
        Ok(Listeners {
            tcp,
            unix,
            metrics,
            tls,
        })
    }
}

/// `--metrics-listen`: `/metrics`, `/health` and `/ready` on addresses of their own, on the
/// running actix system (one worker).
pub fn spawn_metrics_server(
    data: actix_web::web::Data<super::state::App>,
    addrs: &[SocketAddr],
) -> std::io::Result<()> {
    use super::handlers;
    use actix_web::{web, App, HttpServer};
    let mut m = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(handlers::metrics))
            .route("/health", web::route().to(handlers::health))
            .route("/ready", web::route().to(handlers::ready))
            .default_service(web::to(handlers::not_found))
    })
    .workers(1)
    .shutdown_timeout(1);
    for addr in addrs {
        m = m.bind(addr).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot bind --metrics-listen {addr}: {e}"),
            )
        })?;
    }
    for addr in m.addrs() {
        eprintln!("metrics on http://{addr}");
    }
    actix_web::rt::spawn(m.run());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_addresses() {
        assert_eq!(
            addresses(&[], 80).unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            addresses(&["all".into()], 1).unwrap(),
            vec!["0.0.0.0:1".parse().unwrap()]
        );
        let two = addresses(&["127.0.0.1,::1".into(), "127.0.0.1".into()], 9).unwrap();
        assert_eq!(
            two,
            vec!["127.0.0.1:9".parse().unwrap(), "[::1]:9".parse().unwrap()]
        );
        assert!(addresses(&["local,127.0.0.1".into()], 9).is_err());
        assert_eq!(
            addresses(&["[::1]".into()], 7).unwrap(),
            vec!["[::1]:7".parse().unwrap()]
        );
    }
}
