//! Profiling one plugin with wasmtime's guest profiler (`wasmtime::GuestProfiler`).
//!
//! A profile samples the guest's Wasm stack from the store's epoch deadline
//! callback (`store::epoch_check`), which already runs during every call for
//! the deadline and the stop flag. While no profile runs nothing changes: the
//! callback runs every `CHECK_TICKS` ticks as before and reads one flag. While
//! one runs, each call hands out its deadline one tick at a time (same total,
//! so deadlines are unchanged) and every tick takes a sample, on whichever
//! thread runs the call (the instance's call thread or the JS thread's sync
//! path). `finish` turns the samples into the Firefox Profiler's "processed
//! profile" JSON. The slot outlives the store: a profile whose instance was
//! disposed (unload, fault) still finishes with what it sampled.

use crate::engine::{engine, TICK};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use wasmtime::component::Component;
use wasmtime::{AsContext, GuestProfiler};

/// One instance's profile, if one runs. Shared by the store (its epoch callback) and the JS object.
pub struct ProfileSlot {
    /// True while a profile runs: read at each call's start and at each epoch check.
    active: AtomicBool,
    running: Mutex<Option<Running>>,
    /// Samples taken over the instance's life (every profile's): tells tests whether sampling happened.
    samples: AtomicU64,
    component: Component,
}

struct Running {
    profiler: GuestProfiler,
    last: Instant,
}

impl ProfileSlot {
    pub fn new(component: Component) -> ProfileSlot {
        ProfileSlot { active: AtomicBool::new(false), running: Mutex::new(None), samples: AtomicU64::new(0), component }
    }

    /// Whether a profile runs (one relaxed load).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Start a profile named `name`; an error when one already runs.
    pub fn start(&self, name: &str) -> Result<(), String> {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if running.is_some() {
            return Err("a profile of this instance is already running".into());
        }
        let profiler = GuestProfiler::new_component(engine(), name, TICK, self.component.clone(), [])
            .map_err(|e| format!("the guest profiler: {e:#}"))?;
        *running = Some(Running { profiler, last: Instant::now() });
        self.active.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Take one sample of the guest's stack (from the epoch callback, during a call).
    pub fn sample(&self, store: impl AsContext) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = running.as_mut() {
            let now = Instant::now();
            // The guest's time since the previous sample, at most one tick (the one that just ended).
            let delta = now.duration_since(r.last).min(TICK);
            r.last = now;
            r.profiler.sample(store, delta);
            self.samples.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Stop sampling and take the profile out; None when none runs.
    pub fn take(&self) -> Option<GuestProfiler> {
        self.active.store(false, Ordering::SeqCst);
        self.running.lock().unwrap_or_else(|e| e.into_inner()).take().map(|r| r.profiler)
    }
}

/// The profile as Firefox Profiler "processed profile" JSON.
pub fn finish(profiler: GuestProfiler) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    profiler.finish(&mut out).map_err(|e| format!("writing the profile: {e:#}"))?;
    Ok(out)
}

/// Epoch ticks per deadline slice: one while profiling (a sample per tick), else `normal`.
#[inline]
pub fn slice(slot: &ProfileSlot, normal: u64) -> u64 {
    if slot.active() {
        1
    } else {
        normal
    }
}
