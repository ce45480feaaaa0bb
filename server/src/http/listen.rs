//! `--listen` values (HTTP_API.md §1): keywords or addresses, repeatable and comma-separated.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

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
