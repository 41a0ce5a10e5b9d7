//! Running one export call under the plugin's limits: fuel budget, epoch
//! deadline, host-call route; classifying the failure; poisoning the instance
//! after a fault.

use crate::engine::{deadline_ticks, CallMark};
use crate::fault::{classify, CallContext, Fault};
use crate::host::{Plugin, Route};
use crate::limits::{FuelAccount, LimitSpec};
use crate::abi::HookReturn;
use crate::store::{StoreData, CHECK_TICKS};
use std::time::{Duration, Instant};
use wasmtime::component::{Func, Instance, TypedFunc};
use wasmtime::{AsContextMut, Store};

/// A live instance: its store and exports, and what it has spent.
pub struct Live {
    pub store: Store<StoreData>,
    pub plugin: Option<Plugin>,
    /// The guest's `on-hook`, called with `abi::HookReturn` results (see `hook_export`).
    pub on_hook: Option<Func>,
    /// The optional `lifecycle` exports `on-suspend` and `on-resume`, when the guest has them (see `lifecycle_export`).
    pub on_suspend: Option<Func>,
    pub on_resume: Option<Func>,
    /// The optional `config-watch.on-config-changed` and `handoff.snapshot` / `restore` (see `optional_export`).
    pub on_config_changed: Option<Func>,
    pub snapshot: Option<Func>,
    pub restore: Option<Func>,
    /// The functions of the app interfaces the guest exports, by the index iface.rs gives them (`app_exports`).
    pub exports: Vec<(Func, std::sync::Arc<crate::iface::FnPlan>)>,
    pub fuel: FuelAccount,
    pub deadline_ms: Option<f64>,
    pub memory_cap: Option<u64>,
    pub poisoned: Option<String>,
    /// Where a trap's core dump goes, when the host asked for them.
    pub core_dumps: Option<CoreDumps>,
}

/// The host's core dump directory and the plugin's name.
pub struct CoreDumps {
    pub dir: std::path::PathBuf,
    pub name: String,
}

impl CoreDumps {
    /// Write `dump` as `<dir>/<name>-<unix ms>-<n>.coredump` (mode 0600, never over a file); its path, or why not.
    fn write(&self, dump: &wasmtime::WasmCoreDump, store: &mut Store<StoreData>) -> Result<std::path::PathBuf, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let bytes = dump.serialize(&mut *store, &self.name);
        let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let safe: String = self.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' }).collect();
        let path = self.dir.join(format!("{safe}-{ms}-{n}.coredump"));
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.write_all(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }
}

/// Where the shared state array lives (see `instance.rs`); written after every call.
#[derive(Clone, Copy)]
pub struct StateCell(pub *mut f64);
unsafe impl Send for StateCell {}
// Shared by the JS thread (sync calls, drains) and the call thread, which
// never write at the same time: a call and the JS side's reads alternate.
unsafe impl Sync for StateCell {}

pub const STATE_LAST_FUEL: usize = 0;
pub const STATE_LIFETIME_FUEL: usize = 1;
pub const STATE_PENDING_LOG: usize = 2;
pub const STATE_PENDING_VIOLATIONS: usize = 3;
pub const STATE_MEMORY_BYTES: usize = 4;
pub const STATE_LEN: usize = 5;

impl StateCell {
    pub fn set(&self, i: usize, v: f64) {
        if !self.0.is_null() && i < STATE_LEN {
            // SAFETY: the TS side allocates STATE_LEN f64s in an ArrayBuffer
            // (off the V8 heap, never moved) and keeps it alive with the
            // instance; it reads the cells only after the call has returned.
            unsafe { self.0.add(i).write_volatile(v) }
        }
    }
}

impl Live {
    pub fn new(store: Store<StoreData>, limits: &LimitSpec) -> Live {
        Live {
            store,
            plugin: None,
            on_hook: None,
            on_suspend: None,
            on_resume: None,
            on_config_changed: None,
            snapshot: None,
            restore: None,
            exports: Vec::new(),
            fuel: FuelAccount::new(limits),
            deadline_ms: limits.deadline_ms,
            memory_cap: limits.memory_bytes,
            poisoned: None,
            core_dumps: None,
        }
    }

    /// Run `f` (one export call, or instantiation) under the limits.
    pub fn run<R>(
        &mut self,
        export_name: &'static str,
        route: Route,
        state: StateCell,
        f: impl FnOnce(&mut Store<StoreData>, Option<&Plugin>, Option<Func>) -> wasmtime::Result<R>,
    ) -> Result<R, Fault> {
        if let Some(why) = &self.poisoned {
            return Err(Fault::Poisoned(why.clone()));
        }
        if self.store.data().stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Fault::Disposed);
        }
        let budget = self.fuel.budget();
        let route = match route {
            Route::Threaded(_) => Route::Threaded(self.deadline_ms.map(|ms| Instant::now() + Duration::from_secs_f64(ms / 1000.0))),
            direct => direct,
        };
        let _mark = CallMark::begin();
        self.store.data_mut().host.route = route;
        self.store.data_mut().host.glue_fuel = 0;
        self.store.data_mut().limiter.refused_memory = false;
        self.store.data_mut().limiter.refused_table = false;
        // Fuel and the deadline are set per call; setting them cannot fail
        // while fuel metering is on. One unit more than the budget: wasmtime
        // checks fuel only at loop headers and function entries and reads the
        // fuel left back saturated at 0, so a call whose straight-line tail ran
        // past the budget would return normally and report exactly the budget.
        // With the spare unit, 0 left means it used more than its budget: out
        // of fuel, as on v8 (the instrumenter's `endCall`). Found by the
        // differential check (bench/differential.mjs).
        let _ = self.store.set_fuel(budget.fuel.saturating_add(1));
        // The deadline is handed out in slices so that the stop flag is seen
        // within CHECK_TICKS ms (`store::epoch_check`).
        let total = deadline_ticks(self.deadline_ms);
        // While a profile runs, one tick at a time: each epoch check takes a sample (profile.rs).
        let first = total.min(crate::profile::slice(&self.store.data().profile, CHECK_TICKS));
        self.store.data_mut().ticks_left = total - first;
        self.store.set_epoch_deadline(first);

        // Interface calls on the JS thread share one handle scope per export call (iface.rs `CallScope`).
        let direct = matches!(route, Route::Direct(_));
        if let (true, Some(b)) = (direct, self.store.data().iface.as_ref()) {
            b.scope.begin();
        }
        let result = f(&mut self.store, self.plugin.as_ref(), self.on_hook);
        if let (true, Some(b)) = (direct, self.store.data().iface.as_ref()) {
            b.scope.end();
        }

        let left = self.store.get_fuel().unwrap_or(0);
        let used = budget.fuel.saturating_add(1).saturating_sub(left).min(budget.fuel);
        let result = match result {
            Ok(_) if left == 0 => Err(wasmtime::Error::from(wasmtime::Trap::OutOfFuel)),
            r => r,
        };
        self.fuel.record(used.saturating_sub(self.store.data().host.glue_fuel));
        self.publish(state);

        result.map_err(|err| {
            let cx = CallContext {
                fuel_budget: if budget.lifetime_binds { self.fuel.lifetime.unwrap_or(budget.fuel) } else { budget.fuel },
                deadline_ms: self.deadline_ms,
                memory_cap: self.memory_cap,
                memory_refused: self.store.data().limiter.refused_memory,
                table_cap: self.store.data().limiter.table_cap().map(|c| c as u64),
                table_refused: self.store.data().limiter.refused_table,
                export: export_name,
                shims: self.store.data().iface.as_ref().map(|b| b.shims.clone()),
            };
            let mut fault = classify(&err, &cx);
            if let (Fault::Trap(reason), Some(dumps), Some(dump)) = (&mut fault, &self.core_dumps, err.downcast_ref::<wasmtime::WasmCoreDump>()) {
                match dumps.write(dump, &mut self.store) {
                    Ok(path) => reason.push_str(&format!(" (core dump: {})", path.display())),
                    Err(why) => reason.push_str(&format!(" (no core dump: {why})")),
                }
            }
            if fault.poisons() {
                self.poisoned = Some(format!("an earlier call failed: {}", describe(&fault)));
            }
            fault
        })
    }

    /// Copy fuel figures, the linear memory held and pending counts to the shared state array.
    pub fn publish(&mut self, state: StateCell) {
        state.set(STATE_LAST_FUEL, self.fuel.last_call as f64);
        state.set(STATE_LIFETIME_FUEL, self.fuel.lifetime_used as f64);
        let data = self.store.data_mut();
        if let Some(pending) = data.host.log.settle() {
            state.set(STATE_PENDING_LOG, pending as f64);
        }
        // Quota refusals the file streams saw during the call (wasi.rs `QuotaStream`).
        // Nearly always empty: look before collecting (this runs after every call).
        let streamed: Vec<crate::limits::Violation> = {
            let mut pending = data.ledger.quota.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.is_empty() { Vec::new() } else { pending.drain(..).collect() }
        };
        for v in streamed {
            crate::wasi::Ledgered::resource_denied(data, v);
        }
        let v = &data.limiter;
        state.set(STATE_MEMORY_BYTES, v.memory_total() as f64);
        if !v.violations.is_empty() || v.dropped_violations > 0 {
            state.set(STATE_PENDING_VIOLATIONS, (v.violations.len() as u64 + u64::from(v.dropped_violations > 0)) as f64);
        }
    }
}

/// The guest's `on-hook`, type-checked once against `abi::HookReturn`.
pub fn hook_export(mut store: impl AsContextMut<Data = StoreData>, instance: &Instance, guest: &str) -> wasmtime::Result<Func> {
    let missing = || wasmtime::format_err!("the component does not export {guest}#on-hook");
    let iface = instance.get_export_index(&mut store, None, guest).ok_or_else(missing)?;
    let index = instance.get_export_index(&mut store, Some(&iface), "on-hook").ok_or_else(missing)?;
    let func = instance.get_func(&mut store, &index).ok_or_else(missing)?;
    func.typed::<(&str, &[u8]), (HookReturn,)>(&store)?;
    Ok(func)
}

/// One function of the optional `lifecycle` interface (`on-suspend`, `on-resume`): None when the guest does not
/// export it; an error when it does with another type.
pub fn lifecycle_export(store: impl AsContextMut<Data = StoreData>, instance: &Instance, lifecycle: &str, name: &str) -> wasmtime::Result<Option<Func>> {
    optional_export::<(), (i32,)>(store, instance, lifecycle, name)
}

/// One function of an optional export interface (`iface` empty: the component does not export it), type-checked
/// against `P -> R`: None when the guest does not export it; an error when it does with another type.
pub fn optional_export<P, R>(mut store: impl AsContextMut<Data = StoreData>, instance: &Instance, iface: &str, name: &str) -> wasmtime::Result<Option<Func>>
where
    P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
    R: wasmtime::component::ComponentNamedList + wasmtime::component::Lift,
{
    if iface.is_empty() {
        return Ok(None);
    }
    let Some(index) = instance.get_export_index(&mut store, None, iface) else { return Ok(None) };
    let Some(index) = instance.get_export_index(&mut store, Some(&index), name) else { return Ok(None) };
    let Some(func) = instance.get_func(&mut store, &index) else { return Ok(None) };
    func.typed::<P, R>(&store).map_err(|e| wasmtime::format_err!("{iface}#{name} has the wrong type: {e}"))?;
    Ok(Some(func))
}

/// The functions of the app interfaces the guest exports, in `plans`' order (iface.rs `AppSurface::exports`).
pub fn app_exports(
    mut store: impl AsContextMut<Data = StoreData>,
    instance: &Instance,
    plans: &[std::sync::Arc<crate::iface::FnPlan>],
) -> wasmtime::Result<Vec<(Func, std::sync::Arc<crate::iface::FnPlan>)>> {
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let missing = || wasmtime::format_err!("the component does not export {}#{}", plan.iface, plan.name);
        let iface = instance.get_export_index(&mut store, None, &plan.iface).ok_or_else(missing)?;
        let index = instance.get_export_index(&mut store, Some(&iface), &plan.name).ok_or_else(missing)?;
        let func = instance.get_func(&mut store, &index).ok_or_else(missing)?;
        out.push((func, plan.clone()));
    }
    Ok(out)
}

/// Call a typed export with arguments already checked against its parameter types (iface.rs `args_from_js`).
pub fn call_app_export(store: &mut Store<StoreData>, func: Func, args: &[wasmtime::component::Val], plan: &crate::iface::FnPlan) -> wasmtime::Result<Option<wasmtime::component::Val>> {
    let mut results = crate::iface::result_slots(plan);
    func.call(&mut *store, args, &mut results)?;
    Ok(results.pop())
}

/// Call `config-watch.on-config-changed` (checked by `optional_export` as `(string) -> s32`).
pub fn call_config_changed(store: &mut Store<StoreData>, func: Option<Func>, config: &str) -> wasmtime::Result<i32> {
    let func = func.ok_or_else(|| wasmtime::format_err!("the plugin does not export config-watch"))?;
    // SAFETY: `optional_export` type-checked this function against these types.
    let typed = unsafe { TypedFunc::<(&str,), (i32,)>::new_unchecked(func) };
    Ok(typed.call(store, (config,))?.0)
}

/// Call `handoff.snapshot` (checked by `optional_export` as `() -> list<u8>`).
pub fn call_snapshot(store: &mut Store<StoreData>, func: Option<Func>) -> wasmtime::Result<Vec<u8>> {
    let func = func.ok_or_else(|| wasmtime::format_err!("the plugin does not export handoff.snapshot"))?;
    // SAFETY: `optional_export` type-checked this function against these types.
    let typed = unsafe { TypedFunc::<(), (Vec<u8>,)>::new_unchecked(func) };
    Ok(typed.call(store, ())?.0)
}

/// Call `handoff.restore` (checked by `optional_export` as `(list<u8>) -> s32`).
pub fn call_restore(store: &mut Store<StoreData>, func: Option<Func>, data: &[u8]) -> wasmtime::Result<i32> {
    let func = func.ok_or_else(|| wasmtime::format_err!("the plugin does not export handoff.restore"))?;
    // SAFETY: `optional_export` type-checked this function against these types.
    let typed = unsafe { TypedFunc::<(&[u8],), (i32,)>::new_unchecked(func) };
    Ok(typed.call(store, (data,))?.0)
}

/// Call a lifecycle export (checked by `lifecycle_export`).
pub fn call_lifecycle(store: &mut Store<StoreData>, func: Option<Func>) -> wasmtime::Result<i32> {
    let func = func.ok_or_else(|| wasmtime::format_err!("the plugin does not export the lifecycle interface"))?;
    // SAFETY: `lifecycle_export` type-checked this function against these types.
    let typed = unsafe { TypedFunc::<(), (i32,)>::new_unchecked(func) };
    Ok(typed.call(store, ())?.0)
}

/// Call `on-hook` (checked by `hook_export`).
pub fn call_hook(store: &mut Store<StoreData>, hook: Option<Func>, name: &str, data: &[u8]) -> wasmtime::Result<Result<Vec<u8>, i32>> {
    let func = hook.ok_or_else(|| wasmtime::format_err!("the instance has no on-hook"))?;
    // SAFETY: `hook_export` type-checked this function against these types.
    let typed = unsafe { TypedFunc::<(&str, &[u8]), (HookReturn,)>::new_unchecked(func) };
    Ok(match typed.call(store, (name, data))?.0 {
        HookReturn::Ok(bytes) => Ok(bytes),
        HookReturn::Err(status) => Err(status),
    })
}

fn describe(f: &Fault) -> String {
    match f {
        Fault::Trap(d) | Fault::Abi(d) | Fault::Host(d) | Fault::IfaceHost(d) | Fault::IfaceGuest(d) | Fault::Load(d) | Fault::Invalid(d) | Fault::Missing(d) => d.clone(),
        Fault::Fuel(b) => format!("out of fuel (budget {b})"),
        Fault::Deadline(ms) => format!("deadline of {ms} ms exceeded"),
        Fault::Memory(cap) => format!("memory cap of {cap} bytes"),
        Fault::Table(cap) => format!("table cap of {cap} elements"),
        Fault::Exit(code) => format!("the guest called exit({code})"),
        Fault::Busy | Fault::Disposed | Fault::Poisoned(_) => String::new(),
    }
}
