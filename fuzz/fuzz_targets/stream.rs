//! Fuzz target `stream`: see `polyfuse_core::fuzzing::stream`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| polyfuse_core::fuzzing::stream(data));
