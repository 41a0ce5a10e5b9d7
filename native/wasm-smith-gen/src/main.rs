//! Writes random valid core Wasm modules for plughost's differential check
//! (bench/differential.mjs). The generator is wasm-smith, the library behind
//! `wasm-tools smith`; a bare binary on it builds in under a minute, where
//! installing the whole wasm-tools CLI takes several.
//!
//! Usage: wasm-smith-gen <first-seed> <count>
//! Output on stdout, per module: u64 seed (LE), u32 length (LE), the bytes.
//! Module `seed` is the same on every machine (the input bytes come from a
//! fixed PRNG), so a divergence is reproducible from its seed alone.

use arbitrary::Unstructured;
use std::io::Write;
use wasm_smith::{Config, Module};

/// splitmix64: a fixed, portable byte source for `Unstructured`.
fn bytes_for(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Features both engines run by default (Node 20's V8 and wasmtime 48):
/// no imports (the module must instantiate alone), everything exported (so
/// the check can call every function), NaNs canonicalized (NaN bit patterns
/// are nondeterministic by the spec, not a divergence).
fn config(seed: u64) -> Config {
    let mut c = Config::default();
    c.max_imports = 0;
    c.export_everything = true;
    c.canonicalize_nans = true;
    c.min_funcs = 1;
    c.max_funcs = 20;
    c.max_instructions = 200;
    c.max_memories = 1;
    c.max_tables = 2;
    c.max_memory32_bytes = 16 << 20;
    c.memory64_enabled = false;
    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.exceptions_enabled = false; // Node 20 has only the legacy proposal
    c.gc_enabled = false;
    c.relaxed_simd_enabled = false; // behind a flag in Node 20
    c.extended_const_enabled = false; // not in Node 20's V8
    c.wide_arithmetic_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.custom_descriptors_enabled = false;
    c.compact_imports_enabled = false;
    // JS cannot pass or take a v128, so an export with one in its signature is skipped: one module in five has no
    // SIMD, so its exports all get called.
    c.simd_enabled = seed % 5 != 4;
    c.tail_call_enabled = true;
    c.bulk_memory_enabled = true;
    // externref needs wasmtime's `gc` feature, which the addon is built without (so plugins cannot use it either).
    c.reference_types_enabled = false;
    c.multi_value_enabled = true;
    c.saturating_float_to_int_enabled = true;
    c.sign_extension_ops_enabled = true;
    c
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: wasm-smith-gen <first-seed> <count>");
        std::process::exit(2);
    }
    let first: u64 = args[1].parse().expect("first-seed is a u64");
    let count: u64 = args[2].parse().expect("count is a u64");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for seed in first..first + count {
        let data = bytes_for(seed, 2048 + (seed % 7) as usize * 1024);
        let mut u = Unstructured::new(&data);
        let mut module = match Module::new(config(seed), &mut u) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("seed {seed}: {e}");
                continue;
            }
        };
        // Every loop header and function entry takes from a counter of 10,000
        // and traps when it is gone: the uninstrumented V8 run needs this to end.
        if let Err(e) = module.ensure_termination(10_000) {
            eprintln!("seed {seed}: {e}");
            continue;
        }
        let bytes = module.to_bytes();
        out.write_all(&seed.to_le_bytes()).unwrap();
        out.write_all(&(bytes.len() as u32).to_le_bytes()).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.flush().unwrap();
}
