//! Sizes and durations with units, in flags and in the config file alike:
//! `--max-body 10MB`, `timeout = "30s"`, `--rotate-size 1GiB`. A plain number still
//! means bytes or seconds, so every existing command and config keeps working.
//!
//! Sizes: `B`, then `K`/`KB` = 1,000, `KiB` = 1,024, and so on to `T`/`TB`/`TiB`
//! (case-insensitive; SI and binary prefixes as `dd`, systemd and `du --si` read
//! them). Durations: humantime's units (`500ms`, `30s`, `2m`, `1h 30m`). The value is
//! kept as the setting's type (bytes as `u64`, seconds as `f64`), so the rest of the
//! crate never sees a unit; range checks stay in `validate`.
//!
//! Parsing never panics and is linear in the text.

use serde::{de, Deserializer};

/// Parses a size: a number of bytes, or a number and a unit (`10MB`, `1.5GiB`).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (bytes, or with a unit: 10MB, 1GiB)"))?;
    let scale: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "'{text}': unknown size unit '{unit}' (B, KB, KiB, MB, MiB, GB, GiB, TB, TiB)"
            ))
        }
    };
    let bytes = (n * scale).round();
    // f64 reaches u64::MAX only approximately: anything at or past 2^64 is too big.
    if !bytes.is_finite() || bytes >= 18_446_744_073_709_551_616.0 {
        return Err(format!("'{text}' is too large a size"));
    }
    Ok(bytes as u64)
}

/// Parses a duration: a number of seconds (`2.5`), or with units (`500ms`, `30s`,
/// `2m`, `1h 30m`).
pub fn parse_secs(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return Ok(secs);
    }
    humantime::parse_duration(t)
        .map(|d| d.as_secs_f64())
        .map_err(|e| {
            format!("'{text}' is not a duration (seconds, or with units: 500ms, 30s, 2m): {e}")
        })
}

/// A size setting in the config file: a number of bytes or a string with a unit.
pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(Either(
        parse_bytes,
        "a size (bytes, or a string such as \"10MB\")",
    ))
}

/// A duration setting in the config file: a number of seconds or a string with units.
pub fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(Either(
        parse_secs,
        "a duration (seconds, or a string such as \"30s\")",
    ))
}

/// A visitor taking a number as is or a string through its parser.
struct Either<T>(fn(&str) -> Result<T, String>, &'static str);

trait FromNumber: Sized {
    fn from_u64(n: u64) -> Option<Self>;
    fn from_i64(n: i64) -> Option<Self>;
    fn from_f64(n: f64) -> Option<Self>;
}

impl FromNumber for u64 {
    fn from_u64(n: u64) -> Option<u64> {
        Some(n)
    }
    fn from_i64(n: i64) -> Option<u64> {
        u64::try_from(n).ok()
    }
    fn from_f64(n: f64) -> Option<u64> {
        (n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n < 18_446_744_073_709_551_616.0)
            .then_some(n as u64)
    }
}

impl FromNumber for f64 {
    fn from_u64(n: u64) -> Option<f64> {
        Some(n as f64)
    }
    fn from_i64(n: i64) -> Option<f64> {
        Some(n as f64)
    }
    fn from_f64(n: f64) -> Option<f64> {
        Some(n)
    }
}

impl<'de, T: FromNumber> de::Visitor<'de> for Either<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.1)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        T::from_u64(n).ok_or_else(|| E::custom(format!("{n} is out of range")))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        T::from_i64(n).ok_or_else(|| E::custom(format!("{n} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<T, E> {
        T::from_f64(n).ok_or_else(|| E::custom(format!("{n} is not a whole number of bytes")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        (self.0)(s).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_si_and_binary_units() {
        assert_eq!(parse_bytes("1048576"), Ok(1_048_576));
        assert_eq!(parse_bytes("10MB"), Ok(10_000_000));
        assert_eq!(parse_bytes("10 mb"), Ok(10_000_000));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
        assert_eq!(parse_bytes("64k"), Ok(64_000));
        assert_eq!(parse_bytes("0"), Ok(0));
        for bad in ["", "MB", "10 parsecs", "-1", "1e3", "99999999TiB", "1.2.3"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_seconds_or_units() {
        assert_eq!(parse_secs("30"), Ok(30.0));
        assert_eq!(parse_secs("2.5"), Ok(2.5));
        assert_eq!(parse_secs("30s"), Ok(30.0));
        assert_eq!(parse_secs("500ms"), Ok(0.5));
        assert_eq!(parse_secs("2m"), Ok(120.0));
        assert_eq!(parse_secs("1h 30m"), Ok(5400.0));
        for bad in ["", "soon", "30 parsecs"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_config_file_takes_numbers_and_strings() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(deserialize_with = "bytes")]
            b: u64,
            #[serde(deserialize_with = "secs")]
            s: f64,
        }
        let read = |t: &str| toml::from_str::<S>(t).map(|s| (s.b, s.s));
        assert_eq!(read("b = 10\ns = 2").ok(), Some((10, 2.0)));
        assert_eq!(
            read("b = \"10MB\"\ns = \"1m\"").ok(),
            Some((10_000_000, 60.0))
        );
        assert_eq!(read("b = 1.0\ns = 0.5").ok(), Some((1, 0.5)));
        assert!(read("b = -1\ns = 1").is_err());
        assert!(read("b = 1.5\ns = 1").is_err());
        let e = read("b = \"10 parsecs\"\ns = 1")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("unknown size unit")));
    }
}
