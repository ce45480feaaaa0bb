//! `@sentrie/net`: IP addresses and CIDR blocks (IPv4 and IPv6), on `ipnet` for prefix
//! arithmetic (masking, containment, ranges, aggregation) and the standard library's address
//! parsing and classification. Invalid IPs make the `is*` predicates false; invalid CIDRs
//! raise errors. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) count as IPv4 throughout.

use std::net::IpAddr;

use ipnet::{IpAddrRange, IpNet, Ipv4AddrRange, Ipv6AddrRange};

use super::{alloc_str, arity, list, str_arg, Env, Export};
use sentrie_vm::value::Value;

type R<'a> = Result<Value<'a>, String>;

/// IPv4-mapped IPv6 addresses are treated as IPv4.
fn unmap(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok().map(unmap)
}

/// A CIDR block, masked to its network address.
fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let bad = || format!("invalid CIDR `{s}`");
    let (ip, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let net = IpNet::new(parse_ip(ip).ok_or_else(bad)?, prefix).map_err(|_| bad())?;
    Ok(net.trunc())
}

/// An address or a CIDR (a bare address is a full-length prefix).
fn parse_addr_or_cidr(s: &str) -> Result<IpNet, String> {
    if s.contains('/') {
        return parse_cidr(s);
    }
    let ip = parse_ip(s).ok_or_else(|| format!("invalid IP address `{s}`"))?;
    Ok(IpNet::from(ip))
}

fn cidr_contains<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("cidrContains", args, 2, 2)?;
    let net = parse_cidr(&str_arg(args, 0))?;
    Ok(Value::Bool(
        parse_addr_or_cidr(&str_arg(args, 1)).is_ok_and(|o| net.contains(&o)),
    ))
}

fn cidr_intersects<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("cidrIntersects", args, 2, 2)?;
    let (a, b) = (
        parse_cidr(&str_arg(args, 0))?,
        parse_cidr(&str_arg(args, 1))?,
    );
    Ok(Value::Bool(a.contains(&b) || b.contains(&a)))
}

fn cidr_is_valid<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
    arity("cidrIsValid", args, 1, 1)?;
    Ok(Value::Bool(parse_cidr(&str_arg(args, 0)).is_ok()))
}

fn cidr_expand<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("cidrExpand", args, 1, 1)?;
    let net = parse_cidr(&str_arg(args, 0))?;
    if net.max_prefix_len() - net.prefix_len() > 16 {
        return Err("cidrExpand: the block has more than 65536 addresses".to_string());
    }
    // Every address from the network address to the last one, inclusive.
    let range = match net {
        IpNet::V4(n) => IpAddrRange::from(Ipv4AddrRange::new(n.network(), n.broadcast())),
        IpNet::V6(n) => IpAddrRange::from(Ipv6AddrRange::new(n.network(), n.broadcast())),
    };
    Ok(list(env, range.map(|a| alloc_str(env, &a.to_string()))))
}

fn cidr_merge<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("cidrMerge", args, 1, 1)?;
    let Value::List(items) = args[0].plain() else {
        return Err("cidrMerge expects a list".to_string());
    };
    let nets: Vec<IpNet> = items
        .iter()
        .map(|v| parse_addr_or_cidr(&super::js_string(*v)))
        .collect::<Result<_, _>>()?;
    // The fewest blocks covering exactly the union: contained blocks dropped, adjacent
    // siblings merged; IPv4 first, each family sorted.
    let merged = IpNet::aggregate(&nets);
    Ok(list(
        env,
        merged.iter().map(|n| alloc_str(env, &n.to_string())),
    ))
}

fn parse_ip_fn<'a>(args: &[Value<'a>], env: &Env<'a>) -> R<'a> {
    arity("parseIP", args, 1, 1)?;
    Ok(match parse_ip(&str_arg(args, 0)) {
        Some(a) => alloc_str(env, &a.to_string()),
        None => Value::Null,
    })
}

/// Not global unicast besides private, loopback and multicast addresses: unspecified,
/// link-local, broadcast, reserved, shared and documentation blocks.
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

fn is_private_addr(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => v6.is_unique_local(),
    }
}

fn not_global(a: IpAddr) -> bool {
    NOT_GLOBAL
        .iter()
        .filter_map(|n| n.parse::<IpNet>().ok())
        .any(|n| n.contains(&a))
}

macro_rules! predicate {
    ($name:ident, $label:literal, $test:expr) => {
        fn $name<'a>(args: &[Value<'a>], _env: &Env<'a>) -> R<'a> {
            arity($label, args, 1, 1)?;
            let test: fn(IpAddr) -> bool = $test;
            Ok(Value::Bool(parse_ip(&str_arg(args, 0)).is_some_and(test)))
        }
    };
}

predicate!(is_ipv4, "isIPv4", |a| a.is_ipv4());
predicate!(is_ipv6, "isIPv6", |a| a.is_ipv6());
predicate!(is_private, "isPrivate", is_private_addr);
predicate!(is_loopback, "isLoopback", |a| a.is_loopback());
predicate!(is_multicast, "isMulticast", |a| a.is_multicast());
predicate!(is_public, "isPublic", |a| {
    !is_private_addr(a) && !a.is_loopback() && !a.is_multicast() && !not_global(a)
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
