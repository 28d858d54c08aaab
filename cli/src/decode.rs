//! `bgpctl decode`: prints BGP messages copied from a packet capture.
//!
//! Input is hex (whitespace, `:` separators and a `0x` prefix are
//! ignored; lines starting with `#` are comments), holding one or more
//! whole messages, marker included.

use std::fmt::Write as _;

use ferry_wire::attribute::PathAttributes;
use ferry_wire::context::MAX_EXTENDED_MESSAGE_LEN;
use ferry_wire::{
    frame_length, AttrAction, DecodeContext, Message, MessageError, NlriEntry, Update,
};
use serde_json::json;

/// The outcome of decoding a byte stream.
pub struct Decoded {
    pub text: String,
    pub json: serde_json::Value,
    /// True when some message was malformed.
    pub malformed: bool,
}

/// Parses hex text into octets; the error names the offending character.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for word in line.split(|c: char| c.is_whitespace() || c == ':' || c == ',') {
            let word = word.strip_prefix("0x").unwrap_or(word);
            if let Some(bad) = word.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(format!("invalid hex character {bad:?} in {word:?}"));
            }
            digits.push_str(word);
        }
    }
    if digits.is_empty() {
        return Err("no hex digits in the input".into());
    }
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    hex::decode(&digits).map_err(|e| e.to_string())
}

/// Decodes every message in `bytes`.
pub fn decode_stream(bytes: &[u8], ctx: &DecodeContext) -> Decoded {
    let mut text = String::new();
    let mut items = Vec::new();
    let mut malformed = false;
    let mut rest = bytes;
    let mut index = 0;
    while !rest.is_empty() {
        index += 1;
        let len = match frame_length(rest, MAX_EXTENDED_MESSAGE_LEN) {
            Ok(Some(len)) => len,
            Ok(None) => {
                let reason = format!(
                    "{} octets left, fewer than the message needs (truncated capture?)",
                    rest.len()
                );
                let _ = writeln!(text, "message {index}: error: {reason}");
                items.push(json!({"index": index, "error": {"reason": reason}}));
                malformed = true;
                break;
            }
            Err(e) => {
                write_error(&mut text, &mut items, index, &e);
                malformed = true;
                break;
            }
        };
        let (msg, tail) = rest.split_at(len);
        rest = tail;
        match Message::decode(msg, ctx) {
            Ok(m) => {
                let _ = writeln!(text, "message {index}: {m} (length {len})");
                if let Message::Update(u) = &m {
                    write_update(&mut text, u);
                    if u.error_action().is_some() {
                        malformed = true;
                    }
                }
                if let Message::Open(o) = &m {
                    for c in o.capabilities() {
                        let _ = writeln!(text, "  capability {c}");
                    }
                }
                let message = serde_json::to_value(&m)
                    .unwrap_or_else(|e| json!({"unprintable": e.to_string()}));
                let mut v = json!({"index": index, "length": len, "message": message});
                if let Message::Update(u) = &m {
                    if let Some(action) = u.error_action() {
                        v["disposition"] = json!(action);
                    }
                }
                items.push(v);
            }
            Err(e) => {
                write_error(&mut text, &mut items, index, &e);
                malformed = true;
            }
        }
    }
    Decoded {
        text,
        json: serde_json::Value::Array(items),
        malformed,
    }
}

fn write_error(
    text: &mut String,
    items: &mut Vec<serde_json::Value>,
    index: usize,
    e: &MessageError,
) {
    let _ = writeln!(text, "message {index}: error: {}", e.reason);
    let _ = writeln!(
        text,
        "  disposition: session reset, NOTIFICATION {}/{} {} ({})",
        e.code, e.subcode, e.name, e.rfc
    );
    if !e.data.is_empty() {
        let _ = writeln!(text, "  notification data: {}", hex::encode(&e.data));
    }
    items.push(json!({
        "index": index,
        "error": {
            "reason": e.reason,
            "disposition": "session-reset",
            "notification": {"code": e.code, "subcode": e.subcode, "name": e.name, "data": hex::encode(&e.data)},
            "rfc": e.rfc,
        }
    }));
}

fn write_attributes(text: &mut String, a: &PathAttributes) {
    let mut line = |s: String| {
        let _ = writeln!(text, "  {s}");
    };
    if let Some(o) = a.origin {
        line(format!("origin {o}"));
    }
    if let Some(p) = &a.as_path {
        line(format!("as-path {p}"));
    }
    if let Some(nh) = a.next_hop {
        line(format!("next-hop {nh}"));
    }
    if let Some(m) = a.med {
        line(format!("med {m}"));
    }
    if let Some(lp) = a.local_pref {
        line(format!("local-pref {lp}"));
    }
    if a.atomic_aggregate {
        line("atomic-aggregate".into());
    }
    if let Some(ag) = a.aggregator {
        line(format!("aggregator {} {}", ag.asn, ag.address));
    }
    if !a.communities.is_empty() {
        line(format!("communities {}", join(&a.communities)));
    }
    if let Some(id) = a.originator_id {
        line(format!("originator-id {id}"));
    }
    if !a.cluster_list.is_empty() {
        line(format!("cluster-list {}", join(&a.cluster_list)));
    }
    if !a.extended_communities.is_empty() {
        line(format!(
            "extended-communities {}",
            join(&a.extended_communities)
        ));
    }
    if let Some(p) = &a.as4_path {
        line(format!("as4-path {p}"));
    }
    if let Some(ag) = a.as4_aggregator {
        line(format!("as4-aggregator {} {}", ag.asn, ag.address));
    }
    if let Some(p) = &a.pmsi_tunnel {
        line(format!("pmsi-tunnel {p}"));
    }
    if !a.large_communities.is_empty() {
        line(format!("large-communities {}", join(&a.large_communities)));
    }
    for u in &a.unknown {
        line(format!(
            "attribute {} flags {:#04x} value {}",
            u.type_code,
            u.flags,
            hex::encode(&u.value)
        ));
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

fn nlri_line(n: &NlriEntry) -> String {
    match n.path_id {
        Some(id) => format!("{} path-id {id}", n.nlri),
        None => n.nlri.to_string(),
    }
}

fn write_update(text: &mut String, u: &Update) {
    write_attributes(text, &u.attributes);
    for w in &u.withdrawn {
        let _ = writeln!(text, "  withdrawn inet {}", nlri_line(w));
    }
    if let Some(un) = &u.mp_unreach {
        if un.is_end_of_rib() && u.nlri_notes.unknown_evpn_dropped == 0 {
            let _ = writeln!(text, "  mp-unreach {} (End-of-RIB)", un.family);
        } else {
            let _ = writeln!(text, "  mp-unreach {}", un.family);
        }
        for w in &un.withdrawn {
            let _ = writeln!(text, "    withdrawn {}", nlri_line(w));
        }
        if !un.undecoded.is_empty() {
            let _ = writeln!(text, "    undecoded {}", hex::encode(&un.undecoded));
        }
    }
    if let Some(r) = &u.mp_reach {
        let _ = writeln!(text, "  mp-reach {} next-hop {}", r.family, r.next_hop);
        for n in &r.nlri {
            let _ = writeln!(text, "    {}", nlri_line(n));
        }
        if !r.undecoded.is_empty() {
            let _ = writeln!(text, "    undecoded {}", hex::encode(&r.undecoded));
        }
    }
    for n in &u.nlri {
        let _ = writeln!(text, "  nlri inet {}", nlri_line(n));
    }
    if u.nlri_notes.host_bits_cleared > 0 {
        let _ = writeln!(
            text,
            "  note: {} prefixes had bits set past their length, taken as the prefix (RFC 4271 §4.3)",
            u.nlri_notes.host_bits_cleared
        );
    }
    if u.nlri_notes.unknown_evpn_dropped > 0 {
        let _ = writeln!(
            text,
            "  note: {} EVPN routes of unknown types ignored (RFC 7606 §5.4)",
            u.nlri_notes.unknown_evpn_dropped
        );
    }
    for e in &u.errors {
        let _ = writeln!(text, "  error: {e}");
    }
    if let Some(action) = u.error_action() {
        let what = match action {
            AttrAction::TreatAsWithdraw => {
                "treat-as-withdraw: every route of this UPDATE is withdrawn, the session stays up"
            }
            AttrAction::Discard => "attribute discard: the routes are kept without the attribute",
        };
        let _ = writeln!(text, "  disposition: {what}");
    }
}
