//! Arbitrary facts (JSON text) against every target of the example and test packs.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sentrie_fuzz::eval_everywhere(data);
});
