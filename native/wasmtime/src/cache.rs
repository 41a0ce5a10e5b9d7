//! Compiling components, with an in-memory and an on-disk cache.
//!
//! The disk cache holds `Component::serialize` artifacts under
//! `<cacheDir>/wasmtime/<key>.cwasm`, where the key is the sha256 of the
//! component bytes, this crate's version, the engine configuration tag and
//! wasmtime's own compatibility hash (which covers the wasmtime version and
//! every setting that affects code generation). Artifacts are native code
//! that is mapped and run as is, so each file ends with an HMAC-SHA256 over
//! its name and contents, keyed with the cache's key (kept by the host in
//! `<cacheDir>/cache.key`, passed in by the caller). The seal is checked on
//! the bytes read, before they are deserialized; an artifact that does not
//! verify (or deserialize) is discarded and recompiled. Without a key the
//! disk cache is not used at all.

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
    /// A cached artifact failed its seal (or did not deserialize) and was recompiled.
    Rebuilt,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Memory => "memory",
            Source::Disk => "disk",
            Source::Compiled => "compiled",
            Source::Rebuilt => "rebuilt",
        }
    }
}

/// The compiled component, where it came from, and the sha256 of `bytes` (callers key per-component state by it).
pub fn load(bytes: &[u8], cache_dir: Option<&Path>, key: Option<&[u8]>) -> Result<(Component, Source, [u8; 32]), Fault> {
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    let memory = MEMORY.get_or_init(|| Mutex::new(HashMap::new()));
    // No key, no disk cache: an unsealed artifact is never trusted.
    let disk = match (cache_dir, key) {
        (Some(dir), Some(key)) if !key.is_empty() => {
            let name = format!("{}.cwasm", cache_key(&digest));
            Some((dir.join("wasmtime").join(&name), name, key))
        }
        _ => None,
    };
    let hit = memory.lock().unwrap_or_else(|e| e.into_inner()).get(&digest).cloned();
    if let Some(c) = hit {
        // Another cache dir (or a deleted one) still gets its artifact.
        if let Some((f, name, key)) = disk.as_ref().filter(|(f, _, _)| !f.exists()) {
            let _ = store(&c, f, name, key);
        }
        return Ok((c, Source::Memory, digest));
    }
    let mut loaded = None;
    let mut rejected = false;
    if let Some((f, name, key)) = &disk {
        match read_sealed(f, name, key) {
            Ok(Some(body)) => {
                // SAFETY: these are the exact bytes whose seal was just checked
                // (written by this crate with the host's key), and wasmtime
                // checks the artifact's engine compatibility header.
                match unsafe { Component::deserialize(engine(), &body) } {
                    Ok(c) => loaded = Some((c, Source::Disk)),
                    Err(_) => rejected = true,
                }
            }
            Ok(None) => rejected = true,
            Err(_) => {} // not cached yet, or unreadable
        }
        if rejected {
            let _ = std::fs::remove_file(f);
        }
    }
    let (component, source) = match loaded {
        Some(hit) => hit,
        None => {
            let c = compile(bytes)?;
            if let Some((f, name, key)) = &disk {
                // A cache that cannot be written only costs the next load time.
                let _ = store(&c, f, name, key);
            }
            (c, if rejected { Source::Rebuilt } else { Source::Compiled })
        }
    };
    let mut map = memory.lock().unwrap_or_else(|e| e.into_inner());
    if map.len() >= MEMORY_ENTRIES {
        map.clear();
    }
    map.insert(digest, component.clone());
    Ok((component, source, digest))
}

fn compile(bytes: &[u8]) -> Result<Component, Fault> {
    if bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0] {
        return Err(Fault::Invalid("this is a core WebAssembly module, not a component; wrap it with `wasm-tools component new`".into()));
    }
    Component::new(engine(), bytes).map_err(|e| Fault::Invalid(format!("{e:#}").lines().next().unwrap_or("").to_owned()))
}

const SEAL: &[u8] = b"plughost-wasmtime-cwasm-1";
const TAG_LEN: usize = 32;

/// The file's contents without its seal when the seal verifies, `None` when it
/// does not; an error when the file cannot be read (missing, not a regular file).
fn read_sealed(file: &Path, name: &str, key: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    // The seal, not the file type, is what makes the bytes trusted; a FIFO or
    // device is refused only so the read cannot hang or run away.
    if !std::fs::symlink_metadata(file)?.is_file() {
        return Ok(None);
    }
    let mut f = std::fs::File::open(file)?;
    if !f.metadata()?.is_file() {
        return Ok(None);
    }
    let mut data = Vec::new();
    f.read_to_end(&mut data)?;
    if data.len() < TAG_LEN {
        return Ok(None);
    }
    let tag = data.split_off(data.len() - TAG_LEN);
    let want = hmac_sha256(key, &[SEAL, name.as_bytes(), data.as_slice()]);
    // Constant time: no early exit on the first differing byte.
    let diff = tag.iter().zip(want.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    Ok(if diff == 0 { Some(data) } else { None })
}

fn store(component: &Component, file: &Path, name: &str, key: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut bytes = component.serialize().map_err(std::io::Error::other)?;
    let tag = hmac_sha256(key, &[SEAL, name.as_bytes(), bytes.as_slice()]);
    bytes.extend_from_slice(&tag);
    let dir = file.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let tmp: PathBuf = dir.join(format!(".{}.{}.tmp", std::process::id(), name));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut f| f.write_all(&bytes));
    written.and_then(|_| std::fs::rename(&tmp, file)).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// HMAC-SHA256 (RFC 2104) over length-prefixed parts, with the sha2 crate alone.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in parts {
        inner.update((part.len() as u64).to_le_bytes());
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
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
