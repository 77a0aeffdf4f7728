//! Fuzz target `sse`: see `polyfuse_core::fuzzing::sse`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| polyfuse_core::fuzzing::sse(data));
