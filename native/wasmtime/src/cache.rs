//! Compiling components, with an in-memory and an on-disk cache.
//!
//! The disk cache holds `Component::serialize` artifacts under
//! `<cacheDir>/wasmtime/<key>.cwasm`, where the key is the sha256 of the
//! component bytes, this crate's version, the engine configuration tag and
//! wasmtime's own compatibility hash (which covers the wasmtime version and
//! every setting that affects code generation). Artifacts are native code that
//! is mapped and run without re-verification, so the cache directory must be
//! as trusted as the host binary; an artifact that fails to deserialize is
//! recompiled and replaced.

use crate::engine::{engine, CONFIG_TAG};
use crate::fault::Fault;
use sha2::{Digest, Sha256};
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use wasmtime::component::Component;

/// Components compiled in this process, by content hash (bounded).
static MEMORY: OnceLock<Mutex<HashMap<[u8; 32], Component>>> = OnceLock::new();
const MEMORY_ENTRIES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Memory,
    Disk,
    Compiled,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Memory => "memory",
            Source::Disk => "disk",
            Source::Compiled => "compiled",
        }
    }
}

pub fn load(bytes: &[u8], cache_dir: Option<&Path>) -> Result<(Component, Source), Fault> {
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    let memory = MEMORY.get_or_init(|| Mutex::new(HashMap::new()));
    let file = cache_dir.map(|dir| dir.join("wasmtime").join(format!("{}.cwasm", cache_key(&digest))));
    let hit = memory.lock().unwrap_or_else(|e| e.into_inner()).get(&digest).cloned();
    if let Some(c) = hit {
        // Another cache dir (or a deleted one) still gets its artifact.
        if let Some(f) = file.as_ref().filter(|f| !f.exists()) {
            let _ = store(&c, f);
        }
        return Ok((c, Source::Memory));
    }
    let mut loaded = None;
    if let Some(f) = file.as_ref().filter(|f| f.is_file()) {
        // SAFETY: the cache directory is trusted like the host (see above),
        // and wasmtime checks the artifact's engine compatibility header.
        if let Ok(c) = unsafe { Component::deserialize_file(engine(), f) } {
            loaded = Some((c, Source::Disk));
        }
    }
    let (component, source) = match loaded {
        Some(hit) => hit,
        None => {
            let c = compile(bytes)?;
            if let Some(f) = &file {
                // A cache that cannot be written only costs the next load time.
                let _ = store(&c, f);
            }
            (c, Source::Compiled)
        }
    };
    let mut map = memory.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MEMORY_ENTRIES {
        map.clear();
    }
    map.insert(digest, component.clone());
    Ok((component, source))
}

fn compile(bytes: &[u8]) -> Result<Component, Fault> {
    if bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0] {
        return Err(Fault::Invalid("this is a core WebAssembly module, not a component; wrap it with `wasm-tools component new`".into()));
    }
    Component::new(engine(), bytes).map_err(|e| Fault::Invalid(format!("{e:#}").lines().next().unwrap_or("").to_owned()))
}

fn store(component: &Component, file: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp: PathBuf = dir.join(format!(".{}.{}.tmp", std::process::id(), file.file_name().and_then(|n| n.to_str()).unwrap_or("x")));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn cache_key(digest: &[u8; 32]) -> String {
    let mut compat = DefaultHasher::new();
    engine().precompile_compatibility_hash().hash(&mut compat);
    let mut h = Sha256::new();
    h.update(digest);
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(CONFIG_TAG.as_bytes());
    h.update(compat.finish().to_le_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
