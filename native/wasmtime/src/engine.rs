//! The one process-wide wasmtime `Engine` and its epoch ticker.
//!
//! Every plugin shares this engine: fuel metering and epoch interruption are
//! engine-wide settings, so one configuration serves all limits, and compiled
//! components can be shared between instances.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, OperatorCost, PoolingAllocationConfig, VariableOperatorCost};

/// Wall-clock length of one epoch tick. Deadlines are rounded up to ticks.
pub const TICK: Duration = Duration::from_millis(1);

/// Part of the cache key: bump when anything below changes what is compiled.
pub const CONFIG_TAG: &str = "fuel+epoch+cm/2";

static ENGINE: OnceLock<Engine> = OnceLock::new();
static POOLING: AtomicBool = AtomicBool::new(false);

/// Choose the pooling instance allocator. Only effective before the engine is
/// first used; returns whether the engine now uses it.
pub fn request_pooling(enable: bool) -> bool {
    if ENGINE.get().is_none() {
        POOLING.store(enable, Ordering::SeqCst);
    }
    engine_uses_pooling()
}

pub fn engine_uses_pooling() -> bool {
    ENGINE.get().is_some() && POOLING.load(Ordering::SeqCst)
}

pub fn engine() -> &'static Engine {
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.operator_cost(design_operator_cost());
        config.epoch_interruption(true);
        config.parallel_compilation(true);
        // A trap carries a core dump (handles only: memories are copied when one is written, see calls.rs).
        config.coredump_on_trap(true);
        if POOLING.load(Ordering::SeqCst) {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(1000);
            pool.total_core_instances(4000);
            pool.total_memories(2000);
            pool.total_tables(2000);
            pool.max_memory_size(1 << 30);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).expect("wasmtime engine configuration is valid");
        start_ticker(engine.clone());
        engine
    })
}

/// DESIGN.md's fuel unit, the one the v8 engine's instrumenter counts: 0 for
/// `nop`, `drop`, `block`, `loop`, `unreachable`, `return`, `else`, `end`, 1
/// for every other operator executed. wasmtime's defaults differ in two ways:
/// bulk operators (`memory.copy`, `memory.fill`, ...) also cost 1 per byte or
/// element, and every function entry costs 1 (hard-wired). So sizes are free,
/// and calls are free at the call site: a call costs 1 in all, at its entry.
fn design_operator_cost() -> OperatorCost {
    let mut cost = OperatorCost::new();
    cost.Call = 0;
    cost.CallIndirect = 0;
    cost.CallRef = 0;
    cost.ReturnCall = 0;
    cost.ReturnCallIndirect = 0;
    cost.ReturnCallRef = 0;
    let mut v = VariableOperatorCost::new();
    v.memory_copy_per_byte = 0;
    v.memory_fill_per_byte = 0;
    v.memory_init_per_byte = 0;
    v.memory_grow_per_page = 0;
    v.table_copy_per_element = 0;
    v.table_fill_per_element = 0;
    v.table_init_per_element = 0;
    v.table_grow_per_element = 0;
    v.array_copy_per_element = 0;
    v.array_fill_per_element = 0;
    v.array_new_data_per_element = 0;
    v.array_init_data_per_element = 0;
    v.array_new_elem_per_element = 0;
    v.array_init_elem_per_element = 0;
    v.array_new_default_per_element = 0;
    v.array_new_per_element = 0;
    cost.variable = v;
    cost
}

// ── epoch ticker ────────────────────────────────────────────────────────────
//
// One thread advances the engine's epoch every TICK while calls are running.
// After a second without calls it parks, so an idle host burns no CPU; a call
// wakes it only when it is parked (one atomic load on the hot path).

static ACTIVE_CALLS: AtomicU64 = AtomicU64::new(0);
static CALLS_STARTED: AtomicU64 = AtomicU64::new(0);
static PARKED: AtomicBool = AtomicBool::new(false);
static WAKE: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());

fn start_ticker(engine: Engine) {
    std::thread::Builder::new()
        .name("plughost-epoch".into())
        .spawn(move || {
            let mut seen = 0u64;
            let mut idle_ticks = 0u32;
            // The epoch follows the wall clock, not the number of wake-ups: on
            // a loaded machine `sleep(1 ms)` often takes several.
            let mut origin = std::time::Instant::now();
            let mut issued = 0u128;
            loop {
                std::thread::sleep(TICK);
                let due = origin.elapsed().as_micros() / TICK.as_micros();
                while issued < due {
                    engine.increment_epoch();
                    issued += 1;
                }
                let started = CALLS_STARTED.load(Ordering::Relaxed);
                if started != seen || ACTIVE_CALLS.load(Ordering::Relaxed) != 0 {
                    seen = started;
                    idle_ticks = 0;
                    continue;
                }
                idle_ticks += 1;
                if idle_ticks >= 1000 {
                    let (lock, cvar) = &WAKE;
                    let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    PARKED.store(true, Ordering::SeqCst);
                    // A call that began after the idle check saw PARKED false
                    // and will not wake us: look again now that it is set.
                    if CALLS_STARTED.load(Ordering::SeqCst) != seen {
                        PARKED.store(false, Ordering::SeqCst);
                    }
                    while PARKED.load(Ordering::SeqCst) {
                        guard = cvar.wait(guard).unwrap_or_else(|e| e.into_inner());
                    }
                    idle_ticks = 0;
                    // Parked time does not count towards anyone's deadline.
                    origin = std::time::Instant::now();
                    issued = 0;
                }
            }
        })
        .expect("spawn the epoch ticker thread");
}

/// Marks a call in progress for the ticker; dropping it ends the mark.
pub struct CallMark(());

impl CallMark {
    pub fn begin() -> CallMark {
        ACTIVE_CALLS.fetch_add(1, Ordering::Relaxed);
        CALLS_STARTED.fetch_add(1, Ordering::SeqCst);
        if PARKED.load(Ordering::SeqCst) {
            let (lock, cvar) = &WAKE;
            let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            PARKED.store(false, Ordering::SeqCst);
            cvar.notify_one();
        }
        CallMark(())
    }
}

impl Drop for CallMark {
    fn drop(&mut self) {
        ACTIVE_CALLS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Epoch ticks for a wall-clock deadline, rounded up, plus one for the
/// partial tick already under way.
pub fn deadline_ticks(deadline_ms: Option<f64>) -> u64 {
    match deadline_ms {
        Some(ms) if ms.is_finite() && ms >= 0.0 => {
            let tick_ms = TICK.as_secs_f64() * 1000.0;
            (ms / tick_ms).ceil() as u64 + 1
        }
        _ => u64::MAX / 2,
    }
}
