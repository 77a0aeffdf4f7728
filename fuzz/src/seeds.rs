//! Writes the seed corpus of every fuzz target (`corpus/<target>/`) from the recorded provider
//! fixtures: `cargo run --bin seeds -- <fixtures dir> <corpus dir>`.
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let fixtures = PathBuf::from(args.next().unwrap_or_else(|| "../tests/fixtures/providers".into()));
    let corpus = PathBuf::from(args.next().unwrap_or_else(|| "corpus".into()));
    let seeds = polyfuse_core::fuzzing::seeds(&fixtures)?;
    for (i, (target, input)) in seeds.iter().enumerate() {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{i:04}")), input)?;
    }
    println!("{} seeds in {}", seeds.len(), corpus.display());
    Ok(())
}
