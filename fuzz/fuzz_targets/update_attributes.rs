//! Path attribute decode with the RFC 7606 rules: never panics.
#![no_main]

use ferry_wire::attribute::decode_attributes;
use ferry_wire::{DecodeContext, FamilySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, attrs)) = data.split_first() else { return };
    let ctx = DecodeContext {
        four_octet_as: flags & 1 != 0,
        extended_message: true,
        add_path: if flags & 2 != 0 { FamilySet::ALL } else { FamilySet::EMPTY },
    };
    let _ = decode_attributes(attrs, &ctx);
});
