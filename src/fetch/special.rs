//! The special-purpose address table: which IP addresses are not globally
//! reachable, after IANA's IPv4 and IPv6 Special-Purpose Address Registries.
//!
//! One table, longest prefix wins, so an exception inside a blocked range (the
//! anycast addresses in 192.0.0.0/24, the AS112 and AMT blocks in 2001::/23) is one
//! more row, not a special case in code. Translation prefixes (IPv4-mapped, NAT64,
//! 6to4, Teredo) carry an IPv4 address inside: a packet to them ends at that IPv4
//! address, so the embedded address is judged by the IPv4 table.
//!
//! Beyond the registries: IPv4 multicast (224.0.0.0/4) and IPv6 multicast and
//! site-local (ff00::/8, fec0::/10) are never a web server; and any IPv6 address
//! outside 2000::/3, the only block IANA has allocated for global unicast, is refused
//! unless a translation row above claims it.
//!
//! This module is pure: it never resolves a name, opens a socket or knows about
//! seeds and exemptions (that is [`super::guard`]'s job).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How an address in a range is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Not globally reachable: refused.
    Local,
    /// Globally reachable (an exception carved out of a larger local range).
    Global,
    /// A translation prefix: judged by the IPv4 address it carries.
    Embeds(Embedding),
}

/// Where a translation prefix keeps its IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// The last 32 bits (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`).
    Last32,
    /// A local-use NAT64 prefix (RFC 8215) of unknown length: every RFC 6052
    /// layout that fits inside the /48 (prefix /48, /56, /64 and /96) must be public,
    /// else an attacker picks the layout the local translator uses.
    Rfc6052Any,
    /// 6to4 (`2002:AABB:CCDD::/48`): bits 16 to 47.
    SixToFour,
    /// Teredo (`2001:0:SERVER:flags:port:~CLIENT`): both the server and the
    /// (bit-inverted) client address.
    Teredo,
}

/// An address range.
#[derive(Debug, Clone, Copy)]
pub enum Prefix {
    V4(Ipv4Addr, u8),
    V6(Ipv6Addr, u8),
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub prefix: Prefix,
    pub name: &'static str,
    pub reach: Reach,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8, name: &'static str, reach: Reach) -> Range {
    Range {
        prefix: Prefix::V4(Ipv4Addr::new(a, b, c, d), len),
        name,
        reach,
    }
}

const fn v6(s: [u16; 8], len: u8, name: &'static str, reach: Reach) -> Range {
    let a = Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
    Range {
        prefix: Prefix::V6(a, len),
        name,
        reach,
    }
}

use Reach::{Embeds, Global, Local};

/// IANA IPv4 Special-Purpose Address Registry (plus multicast), as of 2025.
/// 192.88.99.0/24 (the 6to4 relay anycast, deprecated by RFC 7526, "N/A" in the
/// registry) is refused: it only ever led into someone else's tunnel.
pub const IPV4: &[Range] = &[
    v4(0, 0, 0, 0, 8, "this network (RFC 791)", Local),
    v4(10, 0, 0, 0, 8, "private-use (RFC 1918)", Local),
    v4(100, 64, 0, 0, 10, "shared address space (RFC 6598)", Local),
    v4(127, 0, 0, 0, 8, "loopback (RFC 1122)", Local),
    v4(169, 254, 0, 0, 16, "link-local (RFC 3927)", Local),
    v4(172, 16, 0, 0, 12, "private-use (RFC 1918)", Local),
    v4(
        192,
        0,
        0,
        0,
        24,
        "IETF protocol assignments (RFC 6890)",
        Local,
    ),
    v4(
        192,
        0,
        0,
        9,
        32,
        "port control protocol anycast (RFC 7723)",
        Global,
    ),
    v4(192, 0, 0, 10, 32, "TURN anycast (RFC 8155)", Global),
    v4(
        192,
        0,
        2,
        0,
        24,
        "documentation TEST-NET-1 (RFC 5737)",
        Local,
    ),
    v4(192, 31, 196, 0, 24, "AS112-v4 (RFC 7535)", Global),
    v4(192, 52, 193, 0, 24, "AMT (RFC 7450)", Global),
    v4(
        192,
        88,
        99,
        0,
        24,
        "deprecated 6to4 relay anycast (RFC 7526)",
        Local,
    ),
    v4(192, 168, 0, 0, 16, "private-use (RFC 1918)", Local),
    v4(
        192,
        175,
        48,
        0,
        24,
        "AS112 direct delegation (RFC 7534)",
        Global,
    ),
    v4(198, 18, 0, 0, 15, "benchmarking (RFC 2544)", Local),
    v4(
        198,
        51,
        100,
        0,
        24,
        "documentation TEST-NET-2 (RFC 5737)",
        Local,
    ),
    v4(
        203,
        0,
        113,
        0,
        24,
        "documentation TEST-NET-3 (RFC 5737)",
        Local,
    ),
    v4(224, 0, 0, 0, 4, "multicast (RFC 5771)", Local),
    v4(240, 0, 0, 0, 4, "reserved (RFC 1112)", Local),
    v4(255, 255, 255, 255, 32, "limited broadcast (RFC 919)", Local),
];

/// IANA IPv6 Special-Purpose Address Registry (plus multicast and site-local), as of 2025.
pub const IPV6: &[Range] = &[
    v6([0; 8], 128, "unspecified (RFC 4291)", Local),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback (RFC 4291)", Local),
    v6([0; 8], 96, "IPv4-compatible, deprecated (RFC 4291)", Local),
    v6(
        [0, 0, 0, 0, 0, 0xffff, 0, 0],
        96,
        "IPv4-mapped (RFC 4291)",
        Embeds(Embedding::Last32),
    ),
    v6(
        [0x64, 0xff9b, 0, 0, 0, 0, 0, 0],
        96,
        "NAT64 well-known prefix (RFC 6052)",
        Embeds(Embedding::Last32),
    ),
    v6(
        [0x64, 0xff9b, 1, 0, 0, 0, 0, 0],
        48,
        "NAT64 local-use prefix (RFC 8215)",
        Embeds(Embedding::Rfc6052Any),
    ),
    v6(
        [0x100, 0, 0, 0, 0, 0, 0, 0],
        64,
        "discard-only (RFC 6666)",
        Local,
    ),
    v6(
        [0x100, 0, 0, 1, 0, 0, 0, 0],
        64,
        "dummy prefix (RFC 9780)",
        Local,
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        23,
        "IETF protocol assignments (RFC 2928)",
        Local,
    ),
    v6(
        [0x2001, 0, 0, 0, 0, 0, 0, 0],
        32,
        "Teredo (RFC 4380)",
        Embeds(Embedding::Teredo),
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 1],
        128,
        "port control protocol anycast (RFC 7723)",
        Global,
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 2],
        128,
        "TURN anycast (RFC 8155)",
        Global,
    ),
    v6(
        [0x2001, 1, 0, 0, 0, 0, 0, 3],
        128,
        "DNS-SD SRP anycast (RFC 9665)",
        Global,
    ),
    v6(
        [0x2001, 2, 0, 0, 0, 0, 0, 0],
        48,
        "benchmarking (RFC 5180)",
        Local,
    ),
    v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32, "AMT (RFC 7450)", Global),
    v6(
        [0x2001, 4, 0x112, 0, 0, 0, 0, 0],
        48,
        "AS112-v6 (RFC 7535)",
        Global,
    ),
    v6(
        [0x2001, 0x10, 0, 0, 0, 0, 0, 0],
        28,
        "ORCHID, deprecated (RFC 4843)",
        Local,
    ),
    v6(
        [0x2001, 0x20, 0, 0, 0, 0, 0, 0],
        28,
        "ORCHIDv2 (RFC 7343)",
        Global,
    ),
    v6(
        [0x2001, 0x30, 0, 0, 0, 0, 0, 0],
        28,
        "drone remote ID DETs (RFC 9374)",
        Global,
    ),
    v6(
        [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0],
        32,
        "documentation (RFC 3849)",
        Local,
    ),
    v6(
        [0x2002, 0, 0, 0, 0, 0, 0, 0],
        16,
        "6to4 (RFC 3056)",
        Embeds(Embedding::SixToFour),
    ),
    v6(
        [0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0],
        48,
        "AS112 direct delegation (RFC 7534)",
        Global,
    ),
    v6(
        [0x3fff, 0, 0, 0, 0, 0, 0, 0],
        20,
        "documentation (RFC 9637)",
        Local,
    ),
    v6(
        [0x5f00, 0, 0, 0, 0, 0, 0, 0],
        16,
        "segment routing SIDs (RFC 9602)",
        Local,
    ),
    v6(
        [0xfc00, 0, 0, 0, 0, 0, 0, 0],
        7,
        "unique-local (RFC 4193)",
        Local,
    ),
    v6(
        [0xfe80, 0, 0, 0, 0, 0, 0, 0],
        10,
        "link-local unicast (RFC 4291)",
        Local,
    ),
    v6(
        [0xfec0, 0, 0, 0, 0, 0, 0, 0],
        10,
        "site-local, deprecated (RFC 3879)",
        Local,
    ),
    v6(
        [0xff00, 0, 0, 0, 0, 0, 0, 0],
        8,
        "multicast (RFC 4291)",
        Local,
    ),
];

/// The only IPv6 block allocated for global unicast: anything else not claimed by a
/// row above is reserved, and refused.
const GLOBAL_UNICAST: (u128, u8) = (0x2000 << 112, 3);

fn covers(net: u128, len: u8, bits: u128, width: u32) -> bool {
    let len = u32::from(len).min(width);
    if len == 0 {
        return true;
    }
    // The top `len` bits of a `width`-bit number (IPv4 sits in the low 32 bits).
    let mask = (!0u128 << (128 - len)) >> (128 - width);
    bits & mask == net & mask
}

/// The most specific row of `table` that contains `ip`.
pub fn lookup(ip: IpAddr) -> Option<&'static Range> {
    let (table, bits, width) = match ip {
        IpAddr::V4(a) => (IPV4, u128::from(a.to_bits()), 32),
        IpAddr::V6(a) => (IPV6, a.to_bits(), 128),
    };
    table
        .iter()
        .filter(|r| match r.prefix {
            Prefix::V4(net, len) => width == 32 && covers(net.to_bits().into(), len, bits, 32),
            Prefix::V6(net, len) => width == 128 && covers(net.to_bits(), len, bits, 128),
        })
        .max_by_key(|r| match r.prefix {
            Prefix::V4(_, len) | Prefix::V6(_, len) => len,
        })
}

/// True if `ip` is not globally reachable: the guard refuses it.
pub fn is_non_public(ip: IpAddr) -> bool {
    match lookup(ip) {
        Some(r) => match r.reach {
            Reach::Local => true,
            Reach::Global => false,
            Reach::Embeds(e) => embedded(ip, e)
                .into_iter()
                .any(|v4| is_non_public(v4.into())),
        },
        None => match ip {
            IpAddr::V4(_) => false,
            IpAddr::V6(a) => !covers(GLOBAL_UNICAST.0, GLOBAL_UNICAST.1, a.to_bits(), 128),
        },
    }
}

/// The IPv4 addresses a translation prefix carries (every one must be public).
fn embedded(ip: IpAddr, how: Embedding) -> Vec<Ipv4Addr> {
    let IpAddr::V6(a) = ip else {
        return Vec::new();
    };
    let b = a.to_bits();
    let at = |shift: u32| Ipv4Addr::from_bits((b >> shift) as u32);
    match how {
        Embedding::Last32 => vec![at(0)],
        Embedding::SixToFour => vec![at(80)],
        Embedding::Teredo => vec![at(64), Ipv4Addr::from_bits(!(b as u32))],
        Embedding::Rfc6052Any => {
            let o = a.octets();
            // RFC 6052 section 2.2: octet 8 (bits 64-71) is always skipped.
            let split = |pre: usize| {
                let mut v = [0u8; 4];
                let mut src = pre;
                for slot in &mut v {
                    if src == 8 {
                        src += 1;
                    }
                    *slot = o[src];
                    src += 1;
                }
                Ipv4Addr::from(v)
            };
            vec![split(6), split(7), split(9), at(0)]
        }
    }
}

#[cfg(test)]
#[path = "special_tests.rs"]
mod tests;
