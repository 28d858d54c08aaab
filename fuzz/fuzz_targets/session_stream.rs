//! A session's byte stream after OPEN: framing then decoding, message after
//! message, as bgpd reads it. Never panics; stops at the first error as the
//! session would (with a NOTIFICATION).
#![no_main]

use ferry_wire::context::MAX_MESSAGE_LEN;
use ferry_wire::{frame_length, DecodeContext, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = DecodeContext::default();
    let mut rest = data;
    loop {
        match frame_length(rest, MAX_MESSAGE_LEN) {
            Ok(Some(len)) => {
                if Message::decode(&rest[..len], &ctx).is_err() {
                    return;
                }
                rest = &rest[len..];
            }
            Ok(None) | Err(_) => return,
        }
    }
});
