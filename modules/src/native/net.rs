//! `@sentrie/net`: IP addresses and CIDR blocks (IPv4 and IPv6). Invalid IPs make the `is*`
//! predicates false; invalid CIDRs raise errors.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{alloc_str, arity, list, str_arg, Env, Export};
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

/// An address as a 128-bit number plus its family width (32 or 128).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Net {
    v6: bool,
    addr: u128,
    prefix: u32,
}

fn bits(v6: bool) -> u32 {
    if v6 {
        128
    } else {
        32
    }
}

fn mask(v6: bool, prefix: u32) -> u128 {
    let w = bits(v6);
    if prefix == 0 {
        0
    } else {
        (u128::MAX << (128 - prefix)) >> (128 - w)
    }
}

/// IPv4-mapped IPv6 addresses are treated as IPv4.
fn parse_ip(s: &str) -> Option<(bool, u128)> {
    match s.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((false, u128::from(u32::from(a)))),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => Some((false, u128::from(u32::from(v4)))),
            None => Some((true, u128::from(a))),
        },
    }
}

fn parse_cidr(s: &str) -> Result<Net, String> {
    let bad = || format!("invalid CIDR `{s}`");
    let (ip, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
    let (v6, addr) = parse_ip(ip).ok_or_else(bad)?;
    let prefix: u32 = prefix.parse().map_err(|_| bad())?;
    if prefix > bits(v6) || prefix.to_string() != prefix.to_string().trim_start_matches('+') {
        return Err(bad());
    }
    Ok(Net {
        v6,
        addr: addr & mask(v6, prefix),
        prefix,
    })
}

/// An address or a CIDR (a bare address is a full-length prefix).
fn parse_addr_or_cidr(s: &str) -> Result<Net, String> {
    if s.contains('/') {
        return parse_cidr(s);
    }
    let (v6, addr) = parse_ip(s).ok_or_else(|| format!("invalid IP address `{s}`"))?;
    Ok(Net {
        v6,
        addr,
        prefix: bits(v6),
    })
}

fn contains(net: Net, other: Net) -> bool {
    net.v6 == other.v6
        && other.prefix >= net.prefix
        && (other.addr & mask(net.v6, net.prefix)) == net.addr
}

fn text(v6: bool, addr: u128) -> String {
    if v6 {
        Ipv6Addr::from(addr).to_string()
    } else {
        Ipv4Addr::from(addr as u32).to_string()
    }
}

fn cidr_contains<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("cidrContains", args, 2, 2)?;
    let net = parse_cidr(&str_arg(args, 0))?;
    Ok(Value::Bool(
        parse_addr_or_cidr(&str_arg(args, 1)).is_ok_and(|o| contains(net, o)),
    ))
}

fn cidr_intersects<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("cidrIntersects", args, 2, 2)?;
    let (a, b) = (
        parse_cidr(&str_arg(args, 0))?,
        parse_cidr(&str_arg(args, 1))?,
    );
    Ok(Value::Bool(contains(a, b) || contains(b, a)))
}

fn cidr_is_valid<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("cidrIsValid", args, 1, 1)?;
    Ok(Value::Bool(parse_cidr(&str_arg(args, 0)).is_ok()))
}

fn cidr_expand<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("cidrExpand", args, 1, 1)?;
    let net = parse_cidr(&str_arg(args, 0))?;
    let host_bits = bits(net.v6) - net.prefix;
    if host_bits > 16 {
        return Err("cidrExpand: the block has more than 65536 addresses".to_string());
    }
    let n = 1u128 << host_bits;
    Ok(list(
        env,
        (0..n).map(|i| alloc_str(env, &text(net.v6, net.addr + i))),
    ))
}

fn cidr_merge<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("cidrMerge", args, 1, 1)?;
    let Value::List(items) = args[0].plain() else {
        return Err("cidrMerge expects a list".to_string());
    };
    let mut nets: Vec<Net> = items
        .iter()
        .map(|v| parse_addr_or_cidr(&super::js_string(*v)))
        .collect::<Result<_, _>>()?;
    loop {
        nets.sort();
        nets.dedup();
        let before = nets.len();
        // Drop blocks contained in another one.
        let snapshot = nets.clone();
        nets.retain(|n| !snapshot.iter().any(|o| o != n && contains(*o, *n)));
        // Merge adjacent siblings into their parent.
        let mut merged = Vec::with_capacity(nets.len());
        let mut i = 0;
        while i < nets.len() {
            let n = nets[i];
            if i + 1 < nets.len() && n.prefix > 0 {
                let m = nets[i + 1];
                let sibling_bit = 1u128 << (bits(n.v6) - n.prefix);
                if m.v6 == n.v6
                    && m.prefix == n.prefix
                    && n.addr & sibling_bit == 0
                    && m.addr == n.addr | sibling_bit
                {
                    merged.push(Net {
                        v6: n.v6,
                        addr: n.addr,
                        prefix: n.prefix - 1,
                    });
                    i += 2;
                    continue;
                }
            }
            merged.push(n);
            i += 1;
        }
        nets = merged;
        if nets.len() == before {
            break;
        }
    }
    nets.sort();
    Ok(list(
        env,
        nets.iter()
            .map(|n| alloc_str(env, &format!("{}/{}", text(n.v6, n.addr), n.prefix))),
    ))
}

fn parse_ip_fn<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("parseIP", args, 1, 1)?;
    Ok(match parse_ip(&str_arg(args, 0)) {
        Some((v6, a)) => alloc_str(env, &text(v6, a)),
        None => Value::Null,
    })
}

fn in_any(v6: bool, addr: u128, nets: &[&str]) -> bool {
    nets.iter().filter_map(|n| parse_cidr(n).ok()).any(|n| {
        contains(
            n,
            Net {
                v6,
                addr,
                prefix: bits(v6),
            },
        )
    })
}

const PRIVATE: [&str; 4] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"];
const LOOPBACK: [&str; 2] = ["127.0.0.0/8", "::1/128"];
const MULTICAST: [&str; 2] = ["224.0.0.0/4", "ff00::/8"];
/// Not global unicast: unspecified, link-local, broadcast, reserved and documentation blocks.
const NOT_GLOBAL: [&str; 9] = [
    "0.0.0.0/8",
    "169.254.0.0/16",
    "255.255.255.255/32",
    "240.0.0.0/4",
    "100.64.0.0/10",
    "::/128",
    "fe80::/10",
    "2001:db8::/32",
    "192.0.2.0/24",
];

macro_rules! predicate {
    ($name:ident, $label:literal, $test:expr) => {
        fn $name<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
            arity($label, args, 1, 1)?;
            let test: fn(bool, u128) -> bool = $test;
            Ok(Value::Bool(
                parse_ip(&str_arg(args, 0)).is_some_and(|(v6, a)| test(v6, a)),
            ))
        }
    };
}

predicate!(is_ipv4, "isIPv4", |v6, _| !v6);
predicate!(is_ipv6, "isIPv6", |v6, _| v6);
predicate!(is_private, "isPrivate", |v6, a| in_any(v6, a, &PRIVATE));
predicate!(is_loopback, "isLoopback", |v6, a| in_any(v6, a, &LOOPBACK));
predicate!(is_multicast, "isMulticast", |v6, a| in_any(
    v6, a, &MULTICAST
));
predicate!(is_public, "isPublic", |v6, a| {
    !in_any(v6, a, &PRIVATE)
        && !in_any(v6, a, &LOOPBACK)
        && !in_any(v6, a, &MULTICAST)
        && !in_any(v6, a, &NOT_GLOBAL)
});

pub fn lookup(name: &str) -> Option<Export> {
    let f: super::NativeFn = match name {
        "cidrContains" => cidr_contains,
        "cidrIntersects" => cidr_intersects,
        "cidrIsValid" => cidr_is_valid,
        "cidrExpand" => cidr_expand,
        "cidrMerge" => cidr_merge,
        "parseIP" => parse_ip_fn,
        "isIPv4" => is_ipv4,
        "isIPv6" => is_ipv6,
        "isPrivate" => is_private,
        "isPublic" => is_public,
        "isLoopback" => is_loopback,
        "isMulticast" => is_multicast,
        _ => return None,
    };
    Some(Export::Function(f))
}
