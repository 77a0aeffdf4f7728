//! Fuzz target `response`: see `polyfuse_core::fuzzing::response`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| polyfuse_core::fuzzing::response(data));
