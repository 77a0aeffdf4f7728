//! Fuzz target `config`: see `polyfuse_core::fuzzing::config`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| polyfuse_core::fuzzing::config(data));
