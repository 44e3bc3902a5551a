//! One test per range of the special-purpose table, with addresses written out by
//! hand (never derived from the table, so a wrong row fails its test).

use super::*;

fn ip(a: &str) -> IpAddr {
    a.parse().expect("a literal address")
}

#[track_caller]
fn refused(addrs: &[&str]) {
    for a in addrs {
        assert!(is_non_public(ip(a)), "{a} must be refused");
    }
}

#[track_caller]
fn allowed(addrs: &[&str]) {
    for a in addrs {
        assert!(!is_non_public(ip(a)), "{a} must be allowed");
    }
}

// ---- IPv4 ----

#[test]
fn v4_this_network_0_0_0_0_8() {
    refused(&["0.0.0.0", "0.1.2.3", "0.255.255.255"]);
    allowed(&["1.0.0.1"]);
}

#[test]
fn v4_private_10_0_0_0_8() {
    refused(&["10.0.0.0", "10.1.2.3", "10.255.255.255"]);
    allowed(&["11.0.0.1", "9.255.255.255"]);
}

#[test]
fn v4_shared_100_64_0_0_10() {
    refused(&["100.64.0.0", "100.100.100.200", "100.127.255.255"]);
    allowed(&["100.63.255.255", "100.128.0.0"]);
}

#[test]
fn v4_loopback_127_0_0_0_8() {
    refused(&["127.0.0.1", "127.255.255.254", "127.1.2.3"]);
    allowed(&["128.0.0.1", "126.255.255.255"]);
}

#[test]
fn v4_link_local_169_254_0_0_16() {
    refused(&["169.254.169.254", "169.254.0.0", "169.254.255.255"]);
    allowed(&["169.253.255.255", "169.255.0.0"]);
}

#[test]
fn v4_private_172_16_0_0_12() {
    refused(&["172.16.0.0", "172.20.1.1", "172.31.255.255"]);
    allowed(&["172.15.255.255", "172.32.0.0"]);
}

#[test]
fn v4_ietf_192_0_0_0_24_with_its_anycast_exceptions() {
    refused(&["192.0.0.0", "192.0.0.8", "192.0.0.170", "192.0.0.255"]);
    // PCP and TURN anycast are globally reachable per IANA.
    allowed(&["192.0.0.9", "192.0.0.10", "192.0.1.0"]);
}

#[test]
fn v4_documentation_192_0_2_0_24() {
    refused(&["192.0.2.0", "192.0.2.1", "192.0.2.255"]);
    allowed(&["192.0.3.0"]);
}

#[test]
fn v4_as112_and_amt_are_global() {
    allowed(&["192.31.196.1", "192.52.193.1", "192.175.48.1"]);
}

#[test]
fn v4_deprecated_6to4_relay_192_88_99_0_24() {
    refused(&["192.88.99.0", "192.88.99.1", "192.88.99.255"]);
    allowed(&["192.88.98.255", "192.88.100.0"]);
}

#[test]
fn v4_private_192_168_0_0_16() {
    refused(&["192.168.0.0", "192.168.1.1", "192.168.255.255"]);
    allowed(&["192.167.255.255", "192.169.0.0"]);
}

#[test]
fn v4_benchmarking_198_18_0_0_15() {
    refused(&["198.18.0.0", "198.19.255.255", "198.18.5.5"]);
    allowed(&["198.17.255.255", "198.20.0.0"]);
}

#[test]
fn v4_documentation_198_51_100_0_24() {
    refused(&["198.51.100.0", "198.51.100.7", "198.51.100.255"]);
    allowed(&["198.51.101.0"]);
}

#[test]
fn v4_documentation_203_0_113_0_24() {
    refused(&["203.0.113.0", "203.0.113.9", "203.0.113.255"]);
    allowed(&["203.0.112.255", "203.0.114.0"]);
}

#[test]
fn v4_multicast_224_0_0_0_4() {
    refused(&["224.0.0.1", "239.255.255.255", "232.1.1.1"]);
    allowed(&["223.255.255.255"]);
}

#[test]
fn v4_reserved_240_0_0_0_4_and_broadcast() {
    refused(&[
        "240.0.0.0",
        "250.1.2.3",
        "255.255.255.254",
        "255.255.255.255",
    ]);
}

#[test]
fn v4_ordinary_public_addresses() {
    allowed(&["8.8.8.8", "1.1.1.1", "93.184.216.34", "151.101.1.69"]);
}

// ---- IPv6 ----

#[test]
fn v6_unspecified_and_loopback() {
    refused(&["::", "::1"]);
}

#[test]
fn v6_ipv4_compatible_is_refused_whatever_it_carries() {
    // `::a.b.c.d` is deprecated: no real server has such an address.
    refused(&["::127.0.0.1", "::10.0.0.1", "::8.8.8.8", "::0.0.0.2"]);
}

#[test]
fn v6_ipv4_mapped_judges_the_embedded_address() {
    refused(&[
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
    ]);
    allowed(&["::ffff:8.8.8.8", "::ffff:93.184.216.34"]);
}

#[test]
fn v6_nat64_well_known_64_ff9b_96_judges_the_embedded_address() {
    refused(&[
        "64:ff9b::127.0.0.1",
        "64:ff9b::10.1.2.3",
        "64:ff9b::a9fe:a9fe",
    ]);
    allowed(&["64:ff9b::8.8.8.8", "64:ff9b::5db8:d822"]);
    // Outside the /96 but inside 64:ff9b::/32: not a translation prefix, reserved.
    refused(&["64:ff9b:0:0:1::8.8.8.8"]);
}

#[test]
fn v6_nat64_local_use_64_ff9b_1_48_judges_every_layout() {
    // Each address below is public under three layouts and private under one.
    // /48 layout (octets 6, 7, 9, 10): 10.8.8.8.
    refused(&["64:ff9b:1:a08:8:808:808:808"]);
    // /56 layout (octets 7, 9, 10, 11): 10.8.8.8.
    refused(&["64:ff9b:1:80a:8:808:808:808"]);
    // /64 layout (octets 9 to 12): 127.8.8.8.
    refused(&["64:ff9b:1:808:7f:808:808:808"]);
    // /96 layout (last 32 bits): 10.0.0.1.
    refused(&["64:ff9b:1:808:8:808:a00:1"]);
    // Every layout reads 8.8.8.8: allowed.
    allowed(&["64:ff9b:1:808:8:808:808:808"]);
}

#[test]
fn v6_discard_only_100_64() {
    refused(&["100::", "100::1", "100::ffff:ffff:ffff:ffff"]);
}

#[test]
fn v6_dummy_prefix_100_0_0_1_64() {
    refused(&["100:0:0:1::1"]);
}

#[test]
fn v6_ietf_2001_23_is_refused_outside_its_exceptions() {
    refused(&["2001:4::1", "2001:1::4", "2001:1ff:ffff::1"]);
    allowed(&["2001:200::1"]);
}

#[test]
fn v6_teredo_2001_32_judges_server_and_client() {
    // Server 65.54.227.120, client 192.0.2.45 obfuscated (3fff:fdd2 = !c000:022d).
    refused(&["2001:0:4136:e378:8000:63bf:3fff:fdd2"]);
    // Client 10.0.0.1 (!0a000001 = f5ff:fffe).
    refused(&["2001:0:4136:e378:8000:63bf:f5ff:fffe"]);
    // Server 127.0.0.1, client 8.8.8.8 (!08080808 = f7f7:f7f7).
    refused(&["2001:0:7f00:1:8000:63bf:f7f7:f7f7"]);
    // Server 65.54.227.120, client 8.8.8.8: both public.
    allowed(&["2001:0:4136:e378:8000:63bf:f7f7:f7f7"]);
}

#[test]
fn v6_anycast_exceptions_in_2001_1() {
    allowed(&["2001:1::1", "2001:1::2", "2001:1::3"]);
}

#[test]
fn v6_benchmarking_2001_2_48() {
    refused(&["2001:2::1", "2001:2:0:ffff::1"]);
}

#[test]
fn v6_amt_2001_3_32_and_as112() {
    allowed(&["2001:3::1", "2001:4:112::1", "2620:4f:8000::1"]);
    refused(&["2001:4:113::1"]);
}

#[test]
fn v6_orchid_2001_10_28_refused_orchid_v2_and_drip_global() {
    refused(&["2001:10::1", "2001:1f:ffff::1"]);
    allowed(&["2001:20::1", "2001:30::1"]);
}

#[test]
fn v6_documentation_2001_db8_32_and_3fff_20() {
    refused(&["2001:db8::1", "2001:db8:ffff::1", "3fff::1", "3fff:fff::1"]);
    allowed(&["3fff:1000::1"]);
}

#[test]
fn v6_6to4_2002_16_judges_the_embedded_address() {
    refused(&[
        "2002:7f00:1::1",
        "2002:a00:1::1",
        "2002:c0a8:101::1",
        "2002:a9fe:a9fe::",
    ]);
    allowed(&["2002:808:808::1"]);
}

#[test]
fn v6_segment_routing_5f00_16() {
    refused(&["5f00::1"]);
}

#[test]
fn v6_unique_local_fc00_7() {
    refused(&["fc00::1", "fd00::1", "fdff:ffff::1"]);
}

#[test]
fn v6_link_local_fe80_10() {
    refused(&["fe80::1", "febf:ffff::1"]);
}

#[test]
fn v6_site_local_fec0_10() {
    refused(&["fec0::1", "feff::1"]);
}

#[test]
fn v6_multicast_ff00_8() {
    refused(&["ff02::1", "ff05::2", "ffff::1"]);
}

#[test]
fn v6_outside_global_unicast_is_reserved() {
    refused(&["4000::1", "1::1", "e000::1", "200::1"]);
}

#[test]
fn v6_ordinary_public_addresses() {
    allowed(&[
        "2606:4700::1111",
        "2a00:1450:4001::1",
        "2001:4860:4860::8888",
    ]);
}

#[test]
fn every_row_is_judged_as_its_reach_says_at_both_ends() {
    for r in IPV4.iter().chain(IPV6) {
        let (first, last): (IpAddr, IpAddr) = match r.prefix {
            Prefix::V4(a, len) => {
                let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                (a.into(), Ipv4Addr::from_bits(a.to_bits() | host).into())
            }
            Prefix::V6(a, len) => {
                let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                (a.into(), Ipv6Addr::from_bits(a.to_bits() | host).into())
            }
        };
        for at in [first, last] {
            let row = lookup(at).expect("inside its own row");
            if row.name != r.name {
                // A more specific row holds this end (it has a test of its own).
                continue;
            }
            match r.reach {
                Reach::Local => assert!(is_non_public(at), "{} {at}", r.name),
                Reach::Global => assert!(!is_non_public(at), "{} {at}", r.name),
                Reach::Embeds(_) => {}
            }
        }
    }
}
