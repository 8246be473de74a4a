//! Durations as people write them in policy files: `90s`, `5m`, `2h`, `1d`,
//! `1w`, or combined (`1h30m`). Whole seconds; no fractions, no negatives.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration in whole seconds, written `90s`, `5m`, `2h`, `1d`, `1w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs)
    }

    pub const fn from_mins(mins: u64) -> Self {
        Duration(mins * 60)
    }

    pub const fn from_hours(hours: u64) -> Self {
        Duration(hours * 3600)
    }

    pub const fn from_days(days: u64) -> Self {
        Duration(days * 86_400)
    }

    pub const fn secs(self) -> u64 {
        self.0
    }

    /// Seconds as `i64`, for time arithmetic (saturating).
    pub fn secs_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parse `90s`, `5m`, `2h`, `1d`, `1w`, or a sequence such as `1h30m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected =
            "expected a whole number followed by s, m, h, d or w (e.g. 90s, 5m, 2h, 1h30m)";
        let s = text.trim();
        if s.is_empty() {
            return Err(format!("empty duration: {expected}"));
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in s.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(format!("invalid duration {text:?}: {expected}")),
            };
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("invalid duration {text:?}: {expected}"))?;
            digits.clear();
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("duration {text:?} is too large"))?;
        }
        if !digits.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: the number {digits} has no unit; {expected}"
            ));
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        if rest == 0 {
            return write!(f, "0s");
        }
        for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= secs {
                write!(f, "{}{}", rest / secs, unit)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 90s, 5m or 2h")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) has no unit: write it as {v}s, {v}m or {v}h"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) is not a duration: write e.g. 90s, 5m or 2h"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) is not a duration: write e.g. 90s, 5m or 2h"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_write() {
        assert_eq!(Duration::parse("90s").unwrap().secs(), 90);
        assert_eq!(Duration::parse("5m").unwrap().secs(), 300);
        assert_eq!(Duration::parse("2h").unwrap().secs(), 7200);
        assert_eq!(Duration::parse("1d").unwrap().secs(), 86_400);
        assert_eq!(Duration::parse("1w").unwrap().secs(), 604_800);
        assert_eq!(Duration::parse("1h30m").unwrap().secs(), 5400);
        assert_eq!(Duration::parse("0s").unwrap().secs(), 0);
    }

    #[test]
    fn rejects_the_rest_with_a_hint() {
        for bad in ["", "5", "5x", "m5", "-5m", "1.5h", "5 m"] {
            let e = Duration::parse(bad).unwrap_err();
            assert!(e.contains("duration"), "{bad}: {e}");
        }
        assert!(Duration::parse("99999999999999999999w").is_err());
    }

    #[test]
    fn displays_compactly_and_round_trips() {
        for s in ["90s", "5m", "2h", "1d", "1h30m", "0s", "1d2h3m4s"] {
            let d = Duration::parse(s).unwrap();
            let shown = d.to_string();
            assert_eq!(Duration::parse(&shown).unwrap(), d, "{s} -> {shown}");
        }
        assert_eq!(Duration::from_secs(90).to_string(), "1m30s");
    }
}
