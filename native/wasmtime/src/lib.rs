//! plughost's wasmtime engine: a node-api addon over the `wasmtime` crate.
//!
//! The TS side is `src/engines/wasmtime.ts`; `docs/engine-wasmtime.md`
//! explains each mechanism. One concept per file:
//!
//! * `engine`    the shared engine and the epoch ticker (deadlines)
//! * `cache`     compiling, with in-memory and on-disk caches
//! * `limits`    fuel budgets and the memory/table limiter
//! * `host`      the `plughost:plugin/host` interface, calling back into JS
//! * `iface`     app-defined WIT interfaces: imports implemented in JS, typed exports
//! * `abi`       host-function argument types that report ABI violations readably
//! * `output`    the bounded log buffer that `log` and stdio write to
//! * `wasi`      WASI p2 built from the capability set
//! * `store`     one plugin's store, linker and instantiation
//! * `calls`     running one call under the limits
//! * `fault`     how failures are classified and reported to JS
//! * `component` / `instance`  the JS-facing objects and async tasks
//! * `fast_path` the synchronous status call as a bare node-api function
//! * `profile`   sampling a guest with wasmtime's guest profiler
//! * `requests`  requests from the call thread, answered later by the JS thread
//! * `ring`      the call ring: async status calls through shared memory
//! * `state`     the `state-*` and `context-*` host functions
//! * `core_run`  a bare core module run with fuel (the differential check)

mod abi;
mod cache;
mod calls;
mod component;
mod contract;
mod core_run;
mod engine;
mod fast_path;
mod fault;
mod host;
mod iface;
mod instance;
mod limits;
mod output;
mod profile;
mod requests;
mod ring;
mod state;
mod store;
mod wasi;

use napi_derive::napi;

#[napi(object)]
pub struct EngineInfo {
    pub addon_version: String,
    pub pooling: bool,
    pub tick_ms: f64,
}

/// Describe the engine (creating it if needed).
#[napi]
pub fn engine_info() -> EngineInfo {
    engine::engine();
    EngineInfo {
        addon_version: env!("CARGO_PKG_VERSION").to_owned(),
        pooling: engine::engine_uses_pooling(),
        tick_ms: engine::TICK.as_secs_f64() * 1000.0,
    }
}

/// Use the pooling instance allocator. Only honoured before the engine is
/// first used (the first compile or `engineInfo()`); returns whether it is on.
#[napi]
pub fn use_pooling_allocator(enable: bool) -> bool {
    engine::request_pooling(enable)
}

/// Whether idle call threads may spin for their next ring call (the JS side's pump: busy threads fit on the cores).
#[napi]
pub fn set_ring_spin(ok: bool) {
    ring::SPIN_OK.store(ok, std::sync::atomic::Ordering::Relaxed);
}
