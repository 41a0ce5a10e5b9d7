//! Running a bare core module with fuel, for plughost's differential check
//! (bench/differential.mjs): the same module runs under V8 plain, V8
//! instrumented (src/instrument) and here, on the engine every plugin uses
//! (same fuel unit, `engine::engine()`), and the results, traps and fuel are
//! compared. Not a plugin path: no WASI, no host, no limits beyond fuel.

use crate::engine::engine;
use napi_derive::napi;
use wasmtime::{Instance, Module, Store, Trap, Val, ValType};

/// One exported function's call.
#[napi(object)]
pub struct CoreCall {
    pub export: String,
    /// `ok`, `trap`, or `skipped` (a signature JS cannot call: v128, exact refs).
    pub outcome: String,
    /// Results, each as `differential.mjs` formats them (see `fmt`).
    pub values: Vec<String>,
    /// The trap's kind (wasmtime's `Trap` name) when `outcome` is `trap`.
    pub trap: String,
    /// Fuel the call used.
    pub fuel: f64,
    /// The parameter types (`i32`, `i64`, `f32`, `f64`, `ref`, `other`), so JS can pass the same arguments.
    pub params: Vec<String>,
}

/// What running the module's exports gave.
#[napi(object)]
pub struct CoreRun {
    /// Compiled and instantiated (its start function, if any, returned).
    pub instantiated: bool,
    /// Why not, when `instantiated` is false (a trap kind or a compile error).
    pub error: String,
    pub calls: Vec<CoreCall>,
}

/// The deterministic argument `j` of a call; differential.mjs passes the same.
fn arg(ty: &ValType, j: usize) -> Option<Val> {
    let k = j as i64 * 7 + 3;
    Some(match ty {
        ValType::I32 => Val::I32(k as i32),
        ValType::I64 => Val::I64(k * 1_000_000_007),
        ValType::F32 => Val::F32((j as f32 + 0.5).to_bits()),
        ValType::F64 => Val::F64((j as f64 + 0.25).to_bits()),
        ValType::Ref(r) if r.is_nullable() => Val::null_ref(r.heap_type()),
        _ => return None,
    })
}

/// A result as text: integers in decimal, floats as the bits of the f64 JS
/// would see (so -0 and 0 differ), any NaN as `nan`, refs as null or not.
fn fmt(v: &Val) -> String {
    let float = |f: f64| if f.is_nan() { "nan".to_owned() } else { format!("{:016x}", f.to_bits()) };
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(b) => float(f32::from_bits(*b) as f64),
        Val::F64(b) => float(f64::from_bits(*b)),
        Val::FuncRef(f) => if f.is_some() { "ref".into() } else { "null".into() },
        Val::ExternRef(r) => if r.is_some() { "ref".into() } else { "null".into() },
        Val::AnyRef(r) => if r.is_some() { "ref".into() } else { "null".into() },
        _ => "other".into(),
    }
}

fn type_name(t: &ValType) -> String {
    match t {
        ValType::I32 => "i32",
        ValType::I64 => "i64",
        ValType::F32 => "f32",
        ValType::F64 => "f64",
        ValType::Ref(r) if r.is_nullable() => "ref",
        _ => "other",
    }
    .to_owned()
}

fn trap_name(e: &wasmtime::Error) -> String {
    match e.downcast_ref::<Trap>() {
        Some(t) => format!("{t:?}"),
        None => format!("error: {e}"),
    }
}

/// Compile and instantiate a core module, then call each exported function
/// once, in export order, on one instance, each with `fuel` units. A trap
/// does not end the run: core Wasm instances stay usable after a trap.
#[napi]
pub fn run_core_module(bytes: &[u8], fuel: f64) -> CoreRun {
    let budget = fuel.max(0.0) as u64;
    let module = match Module::new(engine(), bytes) {
        Ok(m) => m,
        Err(e) => return CoreRun { instantiated: false, error: format!("compile: {e:#}"), calls: vec![] },
    };
    let mut store = Store::new(engine(), ());
    // The shared engine interrupts on epochs; this run is bounded by fuel alone.
    store.set_epoch_deadline(u64::MAX / 2);
    let _ = store.set_fuel(budget.saturating_add(1));
    let instance = match Instance::new(&mut store, &module, &[]) {
        Ok(i) => i,
        Err(e) => return CoreRun { instantiated: false, error: trap_name(&e), calls: vec![] },
    };
    let mut calls = Vec::new();
    let names: Vec<String> = module.exports().map(|e| e.name().to_owned()).collect();
    for name in names {
        let Some(func) = instance.get_func(&mut store, &name) else { continue };
        let ty = func.ty(&store);
        let args: Option<Vec<Val>> = ty.params().enumerate().map(|(j, t)| arg(&t, j)).collect();
        let callable = ty.results().all(|t| !matches!(t, ValType::V128));
        let Some(args) = args.filter(|_| callable) else {
            calls.push(CoreCall { export: name, outcome: "skipped".into(), values: vec![], trap: String::new(), fuel: 0.0, params: vec![] });
            continue;
        };
        let params: Vec<String> = ty.params().map(|t| type_name(&t)).collect();
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        // One spare unit, as calls.rs gives a plugin's call: 0 left after a call that returned means it ran past
        // its budget between two checks, which is out of fuel (as on v8).
        let _ = store.set_fuel(budget.saturating_add(1));
        let r = func.call(&mut store, &args, &mut results);
        let left = store.get_fuel().unwrap_or(0);
        let used = budget.saturating_add(1).saturating_sub(left).min(budget) as f64;
        let r = match r {
            Ok(()) if left == 0 => Err(wasmtime::Error::from(Trap::OutOfFuel)),
            r => r,
        };
        calls.push(match r {
            Ok(()) => CoreCall { export: name, outcome: "ok".into(), values: results.iter().map(fmt).collect(), trap: String::new(), fuel: used, params },
            Err(e) => CoreCall { export: name, outcome: "trap".into(), values: vec![], trap: trap_name(&e), fuel: used, params },
        });
    }
    CoreRun { instantiated: true, error: String::new(), calls }
}
