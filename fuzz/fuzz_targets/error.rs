//! Fuzz target `error`: see `polyfuse_core::fuzzing::error`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| polyfuse_core::fuzzing::error(data));
