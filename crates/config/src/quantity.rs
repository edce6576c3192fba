//! Kubernetes memory quantities as the manifests spell them (`1Gi`, `512Mi`, `2G`, `1500000000`):
//! parsed to bytes for checks and for the local cluster's cgroup limit, kept as written for the
//! manifest. Only the forms a memory size needs: a whole number with an optional binary (`Ki`,
//! `Mi`, `Gi`, `Ti`) or decimal (`k`, `M`, `G`, `T`) suffix.

use serde::{Serialize, Serializer};
use std::fmt;

/// A memory size in the manifest's spelling and in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory {
    text: String,
    bytes: u64,
}

impl Memory {
    /// The size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Memory {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Parses `text` as a memory quantity; the error says what is wrong with it.
pub fn parse_memory(text: &str) -> Result<Memory, String> {
    let not_a_size =
        || format!("`{text}` is not a memory size: give a whole number with Mi or Gi, e.g. 4Gi");
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let unit: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        _ => return Err(not_a_size()),
    };
    let n: u64 = digits.parse().map_err(|_| not_a_size())?;
    let bytes = n
        .checked_mul(unit)
        .ok_or_else(|| format!("`{text}` is too large a memory size"))?;
    Ok(Memory {
        text: t.to_string(),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_every_supported_spelling() {
        for (text, bytes) in [
            ("1Gi", 1u64 << 30),
            ("512Mi", 512 << 20),
            ("64Ki", 64 << 10),
            ("2Ti", 2 << 40),
            ("2G", 2_000_000_000),
            ("300M", 300_000_000),
            ("5k", 5_000),
            ("1T", 1_000_000_000_000),
            ("1500000000", 1_500_000_000),
            (" 4Gi ", 4 << 30),
        ] {
            let m = parse_memory(text).unwrap();
            assert_eq!(m.bytes(), bytes, "{text}");
            assert_eq!(m.to_string(), text.trim());
        }
    }

    #[test]
    fn what_is_not_a_size_is_refused_with_an_example() {
        for text in ["", "Gi", "1.5Gi", "1gi", "1GB", "-1Gi", "1 Gi", "4e9"] {
            let e = parse_memory(text).unwrap_err();
            assert!(e.contains("e.g. 4Gi"), "{text}: {e}");
        }
        assert!(
            parse_memory("99999999999Ti")
                .unwrap_err()
                .contains("too large")
        );
    }
}
