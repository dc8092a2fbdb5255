//! Helpers shared by the store tests: a synthetic root filesystem shaped like a small distribution
//! (many small text-like files, some larger binaries) and metadata for it.
#![allow(dead_code)]
use std::path::Path;

use image::meta::{Family, ImageMeta, Source};

/// Words the text files are made of: compressible like real configuration and documentation.
const WORDS: [&str; 24] = [
    "the", "node", "kernel", "module", "config", "service", "network", "package", "install", "boot", "disk", "mount",
    "# comment", "=", "true", "false", "/usr/lib", "/etc", "version", "0.1", "2.36", "x86_64", "\n", "\n\n",
];

/// A deterministic generator (xorshift), so every run builds the same tree.
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    /// Next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn text(&mut self, bytes: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes + 16);
        while out.len() < bytes {
            out.extend_from_slice(WORDS[(self.next() % WORDS.len() as u64) as usize].as_bytes());
            out.push(b' ');
        }
        out
    }
    fn binary(&mut self, bytes: usize) -> Vec<u8> {
        // Half noise, half text: about as compressible as an ELF file.
        let mut out = self.text(bytes / 2);
        out.extend((0..bytes / 2).map(|_| self.next() as u8));
        out
    }
}

/// Writes a tree of ~1,500 files (~24 MiB) under `root`: etc/ and share/ text, lib/ binaries.
pub fn make_root(root: &Path, seed: u64) {
    let mut rng = Rng::new(seed);
    for (dir, files, max_bytes, binary) in
        [("etc", 200, 4_000, false), ("usr/share/doc", 800, 12_000, false), ("usr/lib", 400, 80_000, true), ("usr/bin", 100, 200_000, true)]
    {
        for i in 0..files {
            let p = root.join(dir).join(format!("pkg{:03}", i % 97)).join(format!("f{i:04}"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let n = 64 + (rng.next() % max_bytes) as usize;
            std::fs::write(&p, if binary { rng.binary(n) } else { rng.text(n) }).unwrap();
        }
    }
}

/// Adds a package's files in the middle of the tree (a directory that sorts between others).
pub fn insert_package(root: &Path, dir: &str, seed: u64) {
    let mut rng = Rng::new(seed);
    for i in 0..20 {
        let p = root.join(dir).join(format!("m{i:02}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let n = 1000 + (rng.next() % 30_000) as usize;
        std::fs::write(&p, rng.binary(n)).unwrap();
    }
    let doc = root.join("usr/share/doc/mpkg/copyright");
    std::fs::create_dir_all(doc.parent().unwrap()).unwrap();
    std::fs::write(doc, rng.text(1500)).unwrap();
}

/// `n` incompressible bytes, the same for the same seed (blake3's extendable output).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0; n];
    blake3::Hasher::new().update(&seed.to_le_bytes()).finalize_xof().fill(&mut out);
    out
}

/// Metadata with these packages.
pub fn meta(packages: &[&str]) -> ImageMeta {
    ImageMeta {
        family: Family::Debian,
        release: "12".into(),
        kernels: vec!["6.1.0-28-amd64".into()],
        packages: packages.iter().map(|p| p.to_string()).collect(),
        role: Some("compute".into()),
        source: Source::Debootstrap { suite: "bookworm".into(), mirror: "http://deb.debian.org/debian".into() },
        parent_version: None,
        size_bytes: 0,
        created_unix_s: 1_700_000_000,
    }
}
