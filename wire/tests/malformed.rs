//! Malformed messages: every RFC 4271 §6 error gets its NOTIFICATION, every
//! RFC 7606 case its action, and the session-surviving cases keep the
//! routes they can name.

use ferry_wire::{AttrAction, DecodeContext, Message, MessageError, Update};

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const EMPTY_AS_PATH: &[u8] = &[0x40, 2, 0];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 10, 10, 25, 42];
const LOCAL_PREF: &[u8] = &[0x40, 5, 4, 0, 0, 0, 100];
/// 10.1.0.0/24 in the NLRI field.
const NLRI: &[u8] = &[24, 10, 1, 0];

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

fn update_msg(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut body = Vec::new();
    body.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(nlri);
    message(2, &body)
}

fn decode(m: &[u8]) -> Result<Message, MessageError> {
    Message::decode(m, &DecodeContext::default())
}

fn reset(m: &[u8]) -> MessageError {
    match decode(m) {
        Err(e) => e,
        Ok(other) => panic!("expected a session reset, decoded {other:?}"),
    }
}

fn update(m: &[u8]) -> Update {
    match decode(m) {
        Ok(Message::Update(u)) => u,
        other => panic!("expected an UPDATE, got {other:?}"),
    }
}

/// Asserts the UPDATE was decoded with exactly `action` for attribute
/// `code` and that its routes are still known (to withdraw them).
fn assert_action(m: &[u8], code: u8, action: AttrAction) -> Update {
    let u = update(m);
    assert!(
        u.errors
            .iter()
            .any(|e| e.type_code == code && e.action == action),
        "expected {action} for attribute {code}, got {:?}",
        u.errors
    );
    assert_eq!(u.error_action(), Some(action));
    u
}

// ---- RFC 4271 §6.1 Message Header Error ----

#[test]
fn bad_marker_is_connection_not_synchronized() {
    let mut m = message(4, &[]);
    m[3] = 0;
    let e = reset(&m);
    assert_eq!((e.code, e.subcode), (1, 1));
}

#[test]
fn length_below_19_is_bad_message_length_with_the_length_as_data() {
    let mut m = message(4, &[]);
    m[17] = 18;
    let e = reset(&m);
    assert_eq!((e.code, e.subcode, e.data.clone()), (1, 2, vec![0, 18]));
}

#[test]
fn length_above_4096_without_extended_message_is_bad_length() {
    let m = update_msg(&[], &[], &vec![8; 4096]);
    let e = reset(&m);
    assert_eq!((e.code, e.subcode), (1, 2));
    assert_eq!(e.data, ((m.len()) as u16).to_be_bytes().to_vec());
    // With RFC 8654 negotiated the same length is fine.
    let ctx = DecodeContext {
        extended_message: true,
        ..Default::default()
    };
    let nlri = [8u8, 10].repeat(2048);
    let m = update_msg(&[], &[ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP], &nlri);
    assert!(Message::decode(&m, &ctx).is_ok());
}

#[test]
fn undefined_type_is_bad_message_type_with_the_type_as_data() {
    let e = reset(&message(9, &[]));
    assert_eq!((e.code, e.subcode, e.data.clone()), (1, 3, vec![9]));
}

#[test]
fn keepalive_with_a_body_is_bad_length() {
    let e = reset(&message(4, &[0]));
    assert_eq!((e.code, e.subcode), (1, 2));
}

#[test]
fn short_open_update_notification_are_bad_length() {
    for (kind, body) in [(1u8, vec![4u8; 9]), (2, vec![0; 3]), (3, vec![6])] {
        let e = reset(&message(kind, &body));
        assert_eq!((e.code, e.subcode), (1, 2), "type {kind}");
    }
}

// ---- RFC 4271 §6.2 OPEN Message Error ----

fn open_body(version: u8, hold: u16, id: [u8; 4], params: &[u8]) -> Vec<u8> {
    let mut b = vec![version, 0xfc, 0x00];
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(params.len() as u8);
    b.extend_from_slice(params);
    b
}

#[test]
fn open_errors_get_their_subcodes() {
    let e = reset(&message(1, &open_body(3, 90, [1, 1, 1, 1], &[])));
    assert_eq!((e.code, e.subcode, e.data.clone()), (2, 1, vec![0, 4]));
    let e = reset(&message(1, &open_body(4, 2, [1, 1, 1, 1], &[])));
    assert_eq!((e.code, e.subcode), (2, 6));
    let e = reset(&message(1, &open_body(4, 90, [0, 0, 0, 0], &[])));
    assert_eq!((e.code, e.subcode), (2, 3));
    let e = reset(&message(1, &open_body(4, 90, [1, 1, 1, 1], &[1, 1, 0])));
    assert_eq!((e.code, e.subcode), (2, 4));
    // A multiprotocol capability of length 3 is malformed.
    let e = reset(&message(
        1,
        &open_body(4, 90, [1, 1, 1, 1], &[2, 5, 1, 3, 0, 1, 0]),
    ));
    assert_eq!(e.code, 2);
    // Parameter length overrunning the message.
    let e = reset(&message(1, &open_body(4, 90, [1, 1, 1, 1], &[2, 9, 1, 4])));
    assert_eq!(e.code, 2);
}

#[test]
fn hold_time_zero_and_three_are_accepted() {
    for hold in [0u16, 3, 90] {
        assert!(decode(&message(1, &open_body(4, hold, [1, 1, 1, 1], &[]))).is_ok());
    }
}

// ---- RFC 4271 §6.3 UPDATE errors that still reset the session ----

#[test]
fn withdrawn_length_overrun_is_malformed_attribute_list() {
    let mut body = vec![0, 50, 24, 10, 1, 0];
    body.extend_from_slice(&[0, 0]);
    let e = reset(&message(2, &body));
    assert_eq!((e.code, e.subcode), (3, 1));
}

#[test]
fn total_attribute_length_overrun_is_malformed_attribute_list() {
    let body = vec![0, 0, 0, 200, 0x40, 1, 1, 0];
    let e = reset(&message(2, &body));
    assert_eq!((e.code, e.subcode), (3, 1));
}

#[test]
fn unrecognized_well_known_attribute_resets_with_the_attribute_as_data() {
    let bogus: &[u8] = &[0x40, 99, 1, 7];
    let e = reset(&update_msg(&[], &[ORIGIN_IGP, bogus], &[]));
    assert_eq!((e.code, e.subcode), (3, 2));
    assert_eq!(e.data, bogus.to_vec());
}

#[test]
fn repeated_mp_reach_is_malformed_attribute_list() {
    let mp: &[u8] = &[0x80, 14, 9, 0, 1, 1, 4, 10, 0, 0, 1, 0];
    let e = reset(&update_msg(&[], &[ORIGIN_IGP, EMPTY_AS_PATH, mp, mp], &[]));
    assert_eq!((e.code, e.subcode), (3, 1));
}

#[test]
fn mp_reach_with_a_next_hop_length_that_does_not_fit_resets() {
    // RFC 7606 §7.11: VPN-IPv4 with a 4-octet next hop cannot locate its NLRI.
    let mp: &[u8] = &[0x80, 14, 9, 0, 1, 128, 4, 10, 0, 0, 1, 0];
    let e = reset(&update_msg(&[], &[ORIGIN_IGP, EMPTY_AS_PATH, mp], &[]));
    assert_eq!((e.code, e.subcode), (3, 9));
    assert!(e.reason.contains("next hop length 4"), "{}", e.reason);
}

#[test]
fn unparsable_mp_reach_nlri_resets_with_optional_attribute_error() {
    // EVPN type-5 with a length field of 3.
    let mp: &[u8] = &[0x80, 14, 13, 0, 25, 70, 4, 10, 0, 0, 1, 0, 5, 3, 0, 0, 0];
    let e = reset(&update_msg(&[], &[ORIGIN_IGP, EMPTY_AS_PATH, mp], &[]));
    assert_eq!((e.code, e.subcode), (3, 9));
}

#[test]
fn invalid_prefix_length_in_nlri_is_invalid_network_field() {
    let e = reset(&update_msg(
        &[],
        &[ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP],
        &[33, 10, 1, 0, 0, 0],
    ));
    assert_eq!((e.code, e.subcode), (3, 10));
}

// ---- RFC 7606: the session survives ----

#[test]
fn undefined_origin_value_is_treat_as_withdraw() {
    // RFC 7606 §7.1; the NLRI is still known so it can be withdrawn.
    let u = assert_action(
        &update_msg(&[], &[&[0x40, 1, 1, 7], EMPTY_AS_PATH, NEXT_HOP], NLRI),
        1,
        AttrAction::TreatAsWithdraw,
    );
    assert_eq!(u.nlri.len(), 1);
    assert!(u.is_treat_as_withdraw());
}

#[test]
fn wrong_length_of_fixed_size_attributes_is_treat_as_withdraw() {
    let cases: &[(&[u8], u8)] = &[
        (&[0x40, 1, 2, 0, 0], 1),
        (&[0x40, 3, 5, 10, 10, 25, 42, 1], 3),
        (&[0x80, 4, 3, 0, 0, 1], 4),
        (&[0x40, 5, 2, 0, 100], 5),
        (&[0xc0, 8, 5, 0, 0, 0, 1, 2], 8),
        (&[0x80, 9, 5, 1, 1, 1, 1, 1], 9),
        (&[0x80, 10, 6, 1, 1, 1, 1, 2, 2], 10),
        (&[0xc0, 16, 9, 0, 2, 0, 11, 0, 0, 0, 11, 0], 16),
        (&[0xc0, 32, 13, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0], 32),
    ];
    for (attr, code) in cases {
        let mut attrs: Vec<&[u8]> = vec![ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP];
        attrs.retain(|a| a[1] != *code);
        attrs.push(attr);
        assert_action(
            &update_msg(&[], &attrs, NLRI),
            *code,
            AttrAction::TreatAsWithdraw,
        );
    }
}

#[test]
fn malformed_as_path_is_treat_as_withdraw() {
    // RFC 7606 §7.2: a segment overrunning the attribute.
    let bad: &[u8] = &[0x40, 2, 4, 2, 2, 0, 1];
    assert_action(
        &update_msg(&[], &[ORIGIN_IGP, bad, NEXT_HOP], NLRI),
        2,
        AttrAction::TreatAsWithdraw,
    );
    // A segment of length zero.
    let zero: &[u8] = &[0x40, 2, 2, 2, 0];
    assert_action(
        &update_msg(&[], &[ORIGIN_IGP, zero, NEXT_HOP], NLRI),
        2,
        AttrAction::TreatAsWithdraw,
    );
}

#[test]
fn atomic_aggregate_and_aggregator_of_wrong_length_are_discarded() {
    let base: [&[u8]; 3] = [ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP];
    let u = assert_action(
        &update_msg(&[], &[&base[..], &[&[0x40u8, 6, 1, 0][..]]].concat(), NLRI),
        6,
        AttrAction::Discard,
    );
    assert!(!u.attributes.atomic_aggregate);
    let u = assert_action(
        &update_msg(
            &[],
            &[&base[..], &[&[0xc0u8, 7, 7, 0, 0, 0, 1, 1, 1, 1][..]]].concat(),
            NLRI,
        ),
        7,
        AttrAction::Discard,
    );
    assert!(u.attributes.aggregator.is_none());
    assert_eq!(u.attributes.origin, Some(ferry_wire::Origin::Igp));
}

#[test]
fn malformed_as4_path_is_discarded() {
    // RFC 6793 §6.
    let bad: &[u8] = &[0xc0, 17, 3, 2, 1, 0];
    assert_action(
        &update_msg(&[], &[ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP, bad], NLRI),
        17,
        AttrAction::Discard,
    );
}

#[test]
fn flags_in_conflict_are_treat_as_withdraw() {
    // RFC 7606 §3 c: ORIGIN marked optional.
    assert_action(
        &update_msg(&[], &[&[0xc0, 1, 1, 0], EMPTY_AS_PATH, NEXT_HOP], NLRI),
        1,
        AttrAction::TreatAsWithdraw,
    );
}

#[test]
fn repeated_attribute_keeps_the_first_and_discards_the_rest() {
    // RFC 7606 §3 g.
    let u = assert_action(
        &update_msg(
            &[],
            &[
                ORIGIN_IGP,
                EMPTY_AS_PATH,
                NEXT_HOP,
                LOCAL_PREF,
                &[0x40, 5, 4, 0, 0, 0, 200],
            ],
            NLRI,
        ),
        5,
        AttrAction::Discard,
    );
    assert_eq!(u.attributes.local_pref, Some(100));
}

#[test]
fn missing_mandatory_attributes_are_treat_as_withdraw() {
    // RFC 7606 §3 d.
    assert_action(
        &update_msg(&[], &[EMPTY_AS_PATH, NEXT_HOP], NLRI),
        1,
        AttrAction::TreatAsWithdraw,
    );
    assert_action(
        &update_msg(&[], &[ORIGIN_IGP, NEXT_HOP], NLRI),
        2,
        AttrAction::TreatAsWithdraw,
    );
    assert_action(
        &update_msg(&[], &[ORIGIN_IGP, EMPTY_AS_PATH], NLRI),
        3,
        AttrAction::TreatAsWithdraw,
    );
    // A withdrawal needs none of them.
    let u = update(&update_msg(NLRI, &[], &[]));
    assert!(u.errors.is_empty());
    assert_eq!(u.withdrawn.len(), 1);
}

#[test]
fn attribute_overrunning_the_attribute_field_is_treat_as_withdraw() {
    // RFC 7606 §4: the last attribute claims more octets than remain; the
    // Total Path Attribute Length still locates the NLRI.
    let u = assert_action(
        &update_msg(
            &[],
            &[ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP, &[0x40, 5, 9, 0, 0]],
            NLRI,
        ),
        5,
        AttrAction::TreatAsWithdraw,
    );
    assert_eq!(u.nlri.len(), 1);
    // Fewer than three octets left for an attribute header.
    assert_action(
        &update_msg(
            &[],
            &[ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP, &[0x40, 5]],
            NLRI,
        ),
        5,
        AttrAction::TreatAsWithdraw,
    );
}

#[test]
fn unknown_optional_transitive_attribute_is_kept() {
    let u = update(&update_msg(
        &[],
        &[ORIGIN_IGP, EMPTY_AS_PATH, NEXT_HOP, &[0xc0, 99, 2, 1, 2]],
        NLRI,
    ));
    assert!(u.errors.is_empty());
    assert_eq!(u.attributes.unknown.len(), 1);
    assert_eq!(u.attributes.unknown[0].value, vec![1, 2]);
}

#[test]
fn route_refresh_of_wrong_length_is_invalid_message_length() {
    // RFC 7313 §5: data is the whole message.
    let m = message(5, &[0, 1, 0, 1, 0]);
    let e = reset(&m);
    assert_eq!((e.code, e.subcode), (7, 1));
    assert_eq!(e.data, m);
}
