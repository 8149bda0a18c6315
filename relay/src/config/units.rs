//! Sizes and durations as people write them on a command line (`256MiB`,
//! `10s`), parsed with checked arithmetic and printed back the same way.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A number of bytes: `1024`, `64KiB`, `256MiB`, `1GiB` (also `KB`, `MB`,
/// `GB` as powers of 1000). Never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// A length of time: `500ms`, `10s`, `2m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period(pub Duration);

/// Why a size or a duration does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("`{0}` is not a size like 256MiB")]
    NotASize(String),
    #[error("unknown size unit in `{0}` (use B, KiB, MiB or GiB)")]
    SizeUnit(String),
    #[error("`{0}` must be more than zero and fit in 64 bits")]
    SizeRange(String),
    #[error("`{0}` is not a duration like 10s")]
    NotADuration(String),
    #[error("unknown duration unit in `{0}` (use ms, s, m or h)")]
    DurationUnit(String),
    #[error("`{0}` is too long a duration")]
    DurationRange(String),
}

fn split(text: &str) -> (&str, &str) {
    let t = text.trim();
    let at = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(at);
    (num, unit.trim())
}

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let (num, unit) = split(s);
        let n: u64 = num.parse().map_err(|_| UnitError::NotASize(s.to_owned()))?;
        let mult: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" | "k" => 1 << 10,
            "mib" | "m" => 1 << 20,
            "gib" | "g" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => return Err(UnitError::SizeUnit(s.to_owned())),
        };
        n.checked_mul(mult)
            .filter(|v| *v > 0)
            .map(ByteSize)
            .ok_or_else(|| UnitError::SizeRange(s.to_owned()))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if n >= 1 << shift && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

impl FromStr for Period {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, UnitError> {
        let (num, unit) = split(s);
        let n: u64 = num
            .parse()
            .map_err(|_| UnitError::NotADuration(s.to_owned()))?;
        let millis_per: u64 = match unit {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(UnitError::DurationUnit(s.to_owned())),
        };
        n.checked_mul(millis_per)
            .map(|ms| Period(Duration::from_millis(ms)))
            .ok_or_else(|| UnitError::DurationRange(s.to_owned()))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print_back() {
        assert_eq!("256MiB".parse(), Ok(ByteSize(256 << 20)));
        assert_eq!("1024".parse(), Ok(ByteSize(1024)));
        assert_eq!("2 GiB".parse(), Ok(ByteSize(2 << 30)));
        assert_eq!("5MB".parse(), Ok(ByteSize(5_000_000)));
        assert!(matches!(
            "0".parse::<ByteSize>(),
            Err(UnitError::SizeRange(_))
        ));
        assert!(matches!(
            "12 parsecs".parse::<ByteSize>(),
            Err(UnitError::SizeUnit(_))
        ));
        assert!(matches!(
            "huge".parse::<ByteSize>(),
            Err(UnitError::NotASize(_))
        ));
        assert!(matches!(
            "99999999999999GiB".parse::<ByteSize>(),
            Err(UnitError::SizeRange(_))
        ));
        for s in ["256MiB", "64KiB", "1GiB", "1000"] {
            assert_eq!(s.parse::<ByteSize>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn durations_parse_with_checked_arithmetic() {
        assert_eq!("500ms".parse(), Ok(Period(Duration::from_millis(500))));
        assert_eq!("10s".parse(), Ok(Period(Duration::from_secs(10))));
        assert_eq!("2m".parse(), Ok(Period(Duration::from_secs(120))));
        assert_eq!("1h".parse(), Ok(Period(Duration::from_secs(3600))));
        assert!(matches!(
            "10d".parse::<Period>(),
            Err(UnitError::DurationUnit(_))
        ));
        // Once an overflow: now an error.
        assert!(matches!(
            "18446744073709551615m".parse::<Period>(),
            Err(UnitError::DurationRange(_))
        ));
        assert_eq!(Period(Duration::from_secs(30)).to_string(), "30s");
        assert_eq!(Period(Duration::from_millis(1500)).to_string(), "1500ms");
    }
}
