//! AS_PATH and AS4_PATH (RFC 4271 §4.3 and §5.1.2, RFC 6793 §3, RFC 5065).

use std::fmt;

use bytes::{BufMut, BytesMut};

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS (RFC 6793 §9).
pub const AS_TRANS: u32 = 23456;

/// The type of an AS_PATH segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SegmentType {
    /// Unordered set of ASes (type 1).
    Set,
    /// Ordered sequence of ASes (type 2).
    Sequence,
    /// Confederation sequence (RFC 5065, type 3).
    ConfedSequence,
    /// Confederation set (RFC 5065, type 4).
    ConfedSet,
}

impl SegmentType {
    pub fn from_code(code: u8) -> Option<SegmentType> {
        Some(match code {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            SegmentType::Set => 1,
            SegmentType::Sequence => 2,
            SegmentType::ConfedSequence => 3,
            SegmentType::ConfedSet => 4,
        }
    }
}

/// One path segment.
///
/// ```text
/// +--------------+--------------+---------------------------------+
/// | segment type | segment len  | ASes (len × 2 or 4 octets)      |
/// |  (1 octet)   | (1 octet)    |                                 |
/// +--------------+--------------+---------------------------------+
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct AsSegment {
    #[serde(rename = "type")]
    pub kind: SegmentType,
    pub asns: Vec<u32>,
}

/// An AS_PATH (or AS4_PATH): a list of segments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// An empty path, as carried by routes originated inside the AS.
    pub const fn empty() -> AsPath {
        AsPath {
            segments: Vec::new(),
        }
    }

    pub fn sequence(asns: Vec<u32>) -> AsPath {
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// The path length used by the decision process (RFC 4271 §9.1.2.2 a):
    /// an AS_SET counts 1, confederation segments count 0 (RFC 5065 §5.3).
    pub fn length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentType::Sequence => s.asns.len(),
                SegmentType::Set => 1,
                SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
            })
            .sum()
    }

    /// The leftmost AS of the path (the neighbouring AS of RFC 4271 §9.1.2.2 c).
    pub fn first_as(&self) -> Option<u32> {
        self.segments
            .iter()
            .find(|s| s.kind == SegmentType::Sequence)
            .and_then(|s| s.asns.first().copied())
    }

    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// True when some AS does not fit in 2 octets.
    pub fn needs_four_octets(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns.iter().any(|a| *a > u16::MAX as u32))
    }

    /// Prepends `asn` as eBGP speakers do when advertising (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: u32) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => {
                s.asns.insert(0, asn)
            }
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![asn],
                },
            ),
        }
    }

    /// Decodes a path whose AS numbers are `as_size` (2 or 4) octets long.
    /// RFC 7606 §7.2: a segment that overruns the attribute, has length
    /// zero or an undefined type makes the attribute malformed.
    pub fn decode(mut value: &[u8], as_size: usize) -> Result<AsPath, String> {
        let mut segments = Vec::new();
        while !value.is_empty() {
            if value.len() < 2 {
                return Err(format!(
                    "segment header truncated: {} octet left",
                    value.len()
                ));
            }
            let kind = SegmentType::from_code(value[0])
                .ok_or_else(|| format!("undefined segment type {}", value[0]))?;
            let count = value[1] as usize;
            if count == 0 {
                return Err("segment of length 0".to_string());
            }
            let need = 2 + count * as_size;
            if value.len() < need {
                return Err(format!(
                    "segment of {count} ASes needs {need} octets, {} left",
                    value.len()
                ));
            }
            let asns = value[2..need]
                .chunks_exact(as_size)
                .map(|c| match *c {
                    [a, b] => u16::from_be_bytes([a, b]) as u32,
                    [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                    _ => unreachable!("chunks of as_size"),
                })
                .collect();
            segments.push(AsSegment { kind, asns });
            value = &value[need..];
        }
        Ok(AsPath { segments })
    }

    /// Encodes the value with `as_size`-octet AS numbers; in 2-octet form an
    /// AS that does not fit becomes AS_TRANS (RFC 6793 §4.2.2). Segments
    /// longer than 255 ASes are split.
    pub fn encode_value(&self, as_size: usize, buf: &mut BytesMut) {
        for seg in &self.segments {
            for chunk in seg.asns.chunks(255) {
                buf.put_u8(seg.kind.code());
                buf.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    if as_size == 4 {
                        buf.put_u32(asn);
                    } else {
                        buf.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS as u16));
                    }
                }
            }
        }
    }

    pub fn value_len(&self, as_size: usize) -> usize {
        self.segments
            .iter()
            .map(|s| {
                s.asns
                    .chunks(255)
                    .map(|c| 2 + c.len() * as_size)
                    .sum::<usize>()
            })
            .sum()
    }

    /// Rebuilds the real path from a 2-octet AS_PATH and the AS4_PATH sent
    /// beside it (RFC 6793 §4.2.3): the leading ASes of AS_PATH that
    /// AS4_PATH does not cover, followed by AS4_PATH. An AS4_PATH longer
    /// than AS_PATH is ignored, as the RFC says.
    pub fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let len = self.length();
        let len4 = as4.length();
        if len4 > len {
            return self.clone();
        }
        let mut keep = len - len4;
        let mut segments = Vec::new();
        for seg in &self.segments {
            if keep == 0 {
                break;
            }
            match seg.kind {
                SegmentType::Sequence => {
                    let n = keep.min(seg.asns.len());
                    segments.push(AsSegment {
                        kind: seg.kind,
                        asns: seg.asns[..n].to_vec(),
                    });
                    keep -= n;
                }
                SegmentType::Set => {
                    segments.push(seg.clone());
                    keep -= 1;
                }
                _ => segments.push(seg.clone()),
            }
        }
        segments.extend(as4.segments.iter().cloned());
        AsPath { segments }
    }
}

impl fmt::Display for AsPath {
    /// `64512 64513 {64514 64515} (65001 65002)`, or `I` for an empty path
    /// as Junos shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.segments.is_empty() {
            return f.write_str("I");
        }
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, close) = match seg.kind {
                SegmentType::Sequence => ("", ""),
                SegmentType::Set => ("{", "}"),
                SegmentType::ConfedSequence => ("(", ")"),
                SegmentType::ConfedSet => ("[", "]"),
            };
            f.write_str(open)?;
            for (j, asn) in seg.asns.iter().enumerate() {
                if j > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{asn}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_two_and_four_octets() {
        let path = AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentType::Sequence,
                    asns: vec![64512, 64513],
                },
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![1, 2],
                },
                AsSegment {
                    kind: SegmentType::ConfedSequence,
                    asns: vec![65001],
                },
                AsSegment {
                    kind: SegmentType::ConfedSet,
                    asns: vec![65002],
                },
            ],
        };
        for size in [2, 4] {
            let mut buf = BytesMut::new();
            path.encode_value(size, &mut buf);
            assert_eq!(buf.len(), path.value_len(size));
            assert_eq!(AsPath::decode(&buf, size).unwrap(), path);
        }
        assert_eq!(path.length(), 3);
        assert_eq!(path.to_string(), "64512 64513 {1 2} (65001) [65002]");
    }

    #[test]
    fn malformed_segments_are_rejected() {
        assert!(AsPath::decode(&[2], 4).is_err());
        assert!(AsPath::decode(&[2, 0], 4).is_err());
        assert!(AsPath::decode(&[5, 1, 0, 0, 0, 1], 4).is_err());
        assert!(AsPath::decode(&[2, 2, 0, 0, 0, 1], 4).is_err());
    }

    #[test]
    fn as4_merge_follows_rfc6793() {
        let two = AsPath::sequence(vec![64512, AS_TRANS, AS_TRANS]);
        let four = AsPath::sequence(vec![4200000000, 4200000001]);
        assert_eq!(
            two.merge_as4(&four).to_string(),
            "64512 4200000000 4200000001"
        );
        let longer = AsPath::sequence(vec![1, 2, 3, 4]);
        assert_eq!(two.merge_as4(&longer), two);
    }
}
