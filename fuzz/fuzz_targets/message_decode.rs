//! Whole-message decode: never panics, and whatever decodes re-encodes to
//! something that decodes to the same message.
#![no_main]

use bytes::BytesMut;
use ferry_wire::{DecodeContext, EncodeContext, FamilySet, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, msg)) = data.split_first() else { return };
    let ctx = DecodeContext {
        four_octet_as: flags & 1 != 0,
        extended_message: flags & 2 != 0,
        add_path: if flags & 4 != 0 { FamilySet::ALL } else { FamilySet::EMPTY },
    };
    let Ok(decoded) = Message::decode(msg, &ctx) else { return };
    let enc = EncodeContext {
        four_octet_as: ctx.four_octet_as,
        extended_message: true,
        add_path: ctx.add_path,
    };
    let mut buf = BytesMut::new();
    if decoded.encode(&enc, &mut buf).is_err() {
        return;
    }
    let dec2 = DecodeContext { extended_message: true, ..ctx };
    let again = Message::decode(&buf, &dec2).expect("re-encoded message decodes");
    match (&decoded, &again) {
        (Message::Update(a), Message::Update(b)) => {
            assert_eq!(a.attributes, b.attributes);
            assert_eq!(a.mp_reach, b.mp_reach);
            assert_eq!(a.mp_unreach, b.mp_unreach);
            assert_eq!(a.nlri, b.nlri);
            assert_eq!(a.withdrawn, b.withdrawn);
        }
        _ => assert_eq!(decoded, again),
    }
});
