//! Address families and route distinguishers as they travel: by their
//! text (`inet-vpn`, `64512:10`).

use std::cmp::Ordering;
use std::fmt;

use ferry_wire::RouteDistinguisher;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address family, written as its Junos-style name (`inet`, `inet6`,
/// `inet-vpn`, `inet6-vpn`, `evpn`), or `afi N safi M` for one Ferry does
/// not carry. Families order by that text, as `show` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Family(pub ferry_wire::Family);

impl Family {
    /// Reads the text [`Family`]'s `Display` writes (and the other names
    /// [`ferry_wire::Family::from_name`] knows).
    pub fn parse(text: &str) -> Option<Family> {
        if let Some(f) = ferry_wire::Family::from_name(text) {
            return Some(Family(f));
        }
        let rest = text.strip_prefix("afi ")?;
        let (afi, safi) = rest.split_once(" safi ")?;
        Some(Family(ferry_wire::Family::new(
            afi.parse().ok()?,
            safi.parse().ok()?,
        )))
    }

    /// The Junos table name (`bgp.l3vpn.0`, …), `?` for a family Ferry
    /// does not carry.
    pub fn table_name(self) -> &'static str {
        self.0.table_name().unwrap_or("?")
    }
}

impl From<ferry_wire::Family> for Family {
    fn from(f: ferry_wire::Family) -> Family {
        Family(f)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Ord for Family {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.0.name(), other.0.name()) {
            (Some(a), Some(b)) => a.cmp(b),
            _ => self.to_string().cmp(&other.to_string()),
        }
    }
}

impl PartialOrd for Family {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for Family {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Family {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Family::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown family {text:?}")))
    }
}

/// Reads a route distinguisher as its `Display` writes it, the form of an
/// unknown type (`type3:0102030405ff`) included.
pub(crate) fn parse_rd(text: &str) -> Option<RouteDistinguisher> {
    if let Ok(rd) = text.parse() {
        return Some(rd);
    }
    let (kind, hex) = text.strip_prefix("type")?.split_once(':')?;
    let rd_type = kind.parse().ok()?;
    if hex.len() != 12 || !hex.is_ascii() {
        return None;
    }
    let mut value = [0u8; 6];
    for (i, v) in value.iter_mut().enumerate() {
        *v = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(RouteDistinguisher::Other { rd_type, value })
}

/// Serde for an `Option<RouteDistinguisher>` travelling as its text.
pub(crate) mod opt_rd {
    use super::*;

    pub fn serialize<S: Serializer>(
        rd: &Option<RouteDistinguisher>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match rd {
            Some(rd) => s.collect_str(rd),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<RouteDistinguisher>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => parse_rd(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid RD {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_travel_as_their_names_and_sort_by_them() {
        for name in [
            "inet",
            "inet6",
            "inet-vpn",
            "inet6-vpn",
            "evpn",
            "afi 1 safi 4",
        ] {
            let f = Family::parse(name).unwrap();
            assert_eq!(f.to_string(), name);
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Family>(&json).unwrap(), f);
        }
        let mut v: Vec<Family> = ["inet6-vpn", "inet", "evpn", "inet-vpn", "inet6"]
            .into_iter()
            .map(|n| Family::parse(n).unwrap())
            .collect();
        v.sort();
        let names: Vec<String> = v.iter().map(|f| f.to_string()).collect();
        assert_eq!(names, ["evpn", "inet", "inet-vpn", "inet6", "inet6-vpn"]);
        assert!(Family::parse("inet-flowspec").is_none());
    }

    #[test]
    fn every_rd_text_reads_back() {
        for text in [
            "64512:10",
            "10.10.25.42:1",
            "4200000000:1",
            "100L:7",
            "type3:0102030405ff",
        ] {
            let rd = parse_rd(text).unwrap();
            assert_eq!(rd.to_string(), text);
        }
        assert!(parse_rd("type3:01").is_none());
        assert!(parse_rd("nonsense").is_none());
    }
}
