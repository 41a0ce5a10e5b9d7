//! A live plugin instance as a JS object: the synchronous fast path, the
//! asynchronous calls, and the drains for log output and violations.
//!
//! Asynchronous calls run on a thread of the instance's own (`serve`), never
//! on libuv's pool: a call that never returns must not take a thread the
//! host's file I/O needs, and the process must be able to exit while a guest
//! spins (libuv joins its pool at exit; these threads are detached). Each
//! call answers through a promise (`JsDeferred`), whose thread-safe function
//! keeps the event loop alive only while the call is pending. Status calls
//! (`onEvent`) come instead through the instance's call ring (ring.rs), which
//! the same thread serves.
//!
//! `dispose()` ends the instance even mid-call: it sets the store's stop flag
//! (the running call traps at its next epoch check, within CHECK_TICKS ms),
//! rejects the pending promises at once, and leaves dropping the store to the
//! call thread, so the JS thread never waits for a guest.
//!
//! One call at a time: the instance sits behind a mutex that is only ever
//! *tried*. A call that finds it held (a re-entrant call from a host
//! function, or a sync call while an async one runs) fails at once with
//! `busy`, which the TS side raises as `ReentrancyError`. Nothing waits.

use crate::calls::{Live, StateCell};
use crate::fault::Fault;
use crate::host::Route;
use crate::output::SharedLog;
use crate::profile::ProfileSlot;
use napi::bindgen_prelude::{Buffer, Either, Either3, Float64Array, Object, Unknown};
use napi::{Env, JsDeferred, Result};
use napi_derive::napi;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::time::Duration;

/// The state array shared with the TS side, and the pointer the addon writes through.
pub struct StateArray {
    pub cell: StateCell,
    _array: Float64Array,
}

impl StateArray {
    pub fn new(mut array: Float64Array) -> StateArray {
        // SAFETY: the array's buffer is off the V8 heap and is kept alive by `_array`.
        let cell = StateCell(unsafe { array.as_mut().as_mut_ptr() });
        StateArray { cell, _array: array }
    }
}

pub type JsOut = Either3<Buffer, i32, crate::iface::ExportValue>;
type Resolver<T> = Box<dyn FnOnce(Env) -> Result<T> + Send>;
type Deferred = JsDeferred<JsOut, Resolver<JsOut>>;

/// Spawn a thread of plughost's own (8 MiB of stack, as libuv's workers had).
/// Stack size of plughost's threads: wasmtime runs guest code on the calling thread's stack (up to its
/// `max_wasm_stack`, 512 KiB by default) with host frames around it.
const THREAD_STACK: usize = 8 << 20;

pub fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name(name.into()).stack_size(THREAD_STACK).spawn(f).map(drop)
}

/// How long a call thread stays idle before it gives back the stack pages its calls touched. Touching them again
/// costs the next call a few µs, small beside an idle spell this long.
const TRIM_AFTER: Duration = Duration::from_millis(10);

/// Give back (to the kernel) the pages of this thread's stack below the current frame, as glibc does for a thread
/// that ends: an idle call thread then holds only the pages of its serve loop, not those of the deepest call or of
/// instantiation. They read as zeros when touched again. Only for threads from `spawn` (a THREAD_STACK stack),
/// called from a frame near its top: the range stays inside the stack whatever the frame depth.
#[cfg(target_os = "linux")]
#[inline(never)] // its own small frame: the margin below it only has to hold madvise's
fn trim_stack() {
    use std::ffi::c_void;
    extern "C" {
        fn madvise(addr: *mut c_void, len: usize, advice: i32) -> i32;
        fn sysconf(name: i32) -> i64;
    }
    const MADV_DONTNEED: i32 = 4;
    const SC_PAGESIZE: i32 = 30;
    // A window well inside the stack: guest code may use max_wasm_stack (512 KiB) plus host frames.
    const WINDOW: usize = THREAD_STACK / 8;
    // SAFETY: sysconf has no preconditions.
    let page = usize::try_from(unsafe { sysconf(SC_PAGESIZE) }).unwrap_or(4096).max(4096);
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    // 1 KiB of margin below this frame: madvise's own frame (and the x86-64 red zone) live there.
    let top = sp.saturating_sub(1024) & !(page - 1);
    let low = top.saturating_sub(WINDOW);
    if low == 0 {
        return;
    }
    // SAFETY: [low, top) lies in this thread's own stack below every live frame (this function is called from
    // `serve`, whose frame is within a few KiB of the top of a THREAD_STACK stack); nothing there is in use, and
    // MADV_DONTNEED on private anonymous memory only drops its contents. A failure leaves the pages as they are.
    unsafe { madvise(low as *mut c_void, top - low, MADV_DONTNEED) };
}

#[cfg(not(target_os = "linux"))]
fn trim_stack() {}

/// What the JS side and the call thread share.
pub struct Control {
    pub stop: Arc<AtomicBool>,
    /// Promises of calls not yet answered; whoever removes one settles it.
    pending: Mutex<Vec<(u64, Deferred)>>,
    next_id: AtomicU64,
    /// Set by the call thread once it has dropped the store and is about to end.
    finished: (Mutex<bool>, Condvar),
    /// The call ring (ring.rs), once the JS side opened it.
    pub ring: std::sync::OnceLock<crate::ring::Ring>,
    /// The call thread, to unpark it when work arrives.
    thread: std::sync::OnceLock<std::thread::Thread>,
}

impl Control {
    pub fn new(stop: Arc<AtomicBool>) -> Control {
        Control {
            stop,
            pending: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            finished: (Mutex::new(false), Condvar::new()),
            ring: std::sync::OnceLock::new(),
            thread: std::sync::OnceLock::new(),
        }
    }

    /// Wake the call thread if it parked (a no-op token otherwise, so a wake-up is never lost).
    pub fn unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    fn finish(&self) {
        *self.finished.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.finished.1.notify_all();
    }

    /// Wait up to `limit` for the call thread to end. A host that exits right
    /// after a dispose must not tear the process down under a thread that is
    /// still running guest code or dropping the store (that crashed the exit).
    /// The thread stops within an epoch slice, or within a host call's 20 ms
    /// poll; a guest blocked inside a WASI call is not waited for past `limit`.
    fn wait_finished(&self, limit: Duration) {
        let guard = self.finished.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self.finished.1.wait_timeout_while(guard, limit, |done| !*done);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn take(&self, id: u64) -> Option<Deferred> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let at = pending.iter().position(|(i, _)| *i == id)?;
        Some(pending.swap_remove(at).1)
    }

    fn settle(&self, id: u64, result: std::result::Result<Outcome, Fault>) {
        if let Some(d) = self.take(id) {
            match result {
                Ok(out) => d.resolve(Box::new(move |_| Ok(to_js(out)))),
                Err(fault) => d.reject(fault.to_napi()),
            }
        }
    }

    /// Reject every pending call (dispose).
    fn abandon_all(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, d) in pending {
            d.reject(Fault::Disposed.to_napi());
        }
    }
}

pub struct Job {
    id: u64,
    call: Call,
}

/// How long an idle call thread spins for the next call before it parks
/// (back-to-back calls then skip the futex), when spinning is allowed.
const IDLE_SPIN: Duration = Duration::from_micros(100);

/// The instance's call thread: runs ring calls and jobs until the instance is
/// disposed or dropped, then drops the store (here, not on the JS thread).
/// The JS side never has ring calls and jobs in flight at once (its queue
/// orders them), so taking each source in turn keeps the calls in order.
pub fn serve(jobs: mpsc::Receiver<Job>, live: Arc<Mutex<Option<Live>>>, control: Arc<Control>, state: Arc<StateArray>) {
    let _ = control.thread.set(std::thread::current());
    let mut next: u32 = 0;
    let mut names: Vec<Arc<str>> = Vec::new();
    let mut idle_since: Option<std::time::Instant> = None;
    let mut claim: Option<crate::ring::SpinClaim> = None;
    // Calls (or instantiation) touched stack pages that `trim_stack` has not given back yet.
    let mut touched = true;
    'serve: loop {
        if control.stopped() {
            break;
        }
        let mut worked = false;
        if let Some(ring) = control.ring.get() {
            let mut submitted = ring.submitted();
            while next != submitted {
                if control.stopped() {
                    break 'serve;
                }
                let call = ring.take(next, &mut names);
                let result = with_live(&live, |l| {
                    l.run("on-event", Route::Threaded(None), state.cell, |store, plugin, _| {
                        plugin.expect("instantiated").plughost_plugin_guest().call_on_event(store, &call.name, &call.data)
                    })
                });
                ring.complete(call.seq, result.map_err(|f| f.to_napi().reason));
                next = next.wrapping_add(1);
                if next == submitted {
                    submitted = ring.submitted();
                }
                worked = true;
            }
        }
        match jobs.try_recv() {
            Ok(job) => {
                let result = if control.stopped() {
                    Err(Fault::Disposed)
                } else {
                    with_live(&live, |l| run_call(l, Route::Threaded(None), state.cell, &job.call))
                };
                control.settle(job.id, result);
                worked = true;
            }
            Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if worked {
            idle_since = None;
            touched = true;
            continue;
        }
        let now = std::time::Instant::now();
        if now.duration_since(*idle_since.get_or_insert(now)) < IDLE_SPIN {
            if claim.is_none() {
                claim = crate::ring::SpinClaim::try_take();
            }
            if claim.is_some() {
                // A few pauses only: one costs up to ~140 cycles on recent x86.
                for _ in 0..4 {
                    std::hint::spin_loop();
                }
                continue;
            }
        }
        claim = None;
        idle_since = None;
        // Park: flag it, then look once more (the JS side writes SUBMIT, then reads the flag).
        let ring = control.ring.get();
        if let Some(r) = ring {
            r.set_parked(true);
            if r.submitted() != next {
                r.set_parked(false);
                continue;
            }
        }
        if touched {
            // Idle for TRIM_AFTER with nothing submitted: give the stack pages back, then park for good.
            let t0 = std::time::Instant::now();
            std::thread::park_timeout(TRIM_AFTER);
            if t0.elapsed() >= TRIM_AFTER && ring.is_none_or(|r| r.submitted() == next) {
                trim_stack();
                touched = false;
            }
        } else {
            std::thread::park();
        }
        if let Some(r) = ring {
            r.set_parked(false);
        }
    }
    drop(claim);
    let store = live.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(store);
    control.finish();
}

#[napi]
pub struct NativeInstance {
    live: Arc<Mutex<Option<Live>>>,
    control: Arc<Control>,
    /// To the call thread; dropped by `dispose()`, which ends the thread.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    log: SharedLog,
    state: Arc<StateArray>,
    /// Which optional exports the guest has.
    optional: OptionalExports,
    /// The guest profile, when one runs (`startProfile` / `stopProfile`); outlives the store.
    profile: Arc<ProfileSlot>,
    /// The typed exports' plans, to check arguments on the JS thread (iface.rs).
    export_plans: Vec<Arc<crate::iface::FnPlan>>,
}

/// Which optional exports the guest has (`lifecycle`, `config-watch`, `handoff`).
#[derive(Clone, Copy, Default)]
pub struct OptionalExports {
    pub on_suspend: bool,
    pub on_resume: bool,
    pub on_config_changed: bool,
    pub snapshot: bool,
    pub restore: bool,
}

#[napi(object)]
pub struct LogEntry {
    /// 0 debug, 1 info, 2 warn, 3 error.
    pub level: u32,
    pub message: String,
}

#[napi(object)]
pub struct LogDrain {
    pub entries: Vec<LogEntry>,
    /// Entries dropped past the buffer's caps (MAX_ENTRIES, MAX_BYTES in output.rs).
    pub dropped: f64,
}

#[napi(object)]
pub struct ViolationEntry {
    pub kind: String,
    pub detail: String,
    /// Kind "resource": the resource (`open-files`, `connections`, `fs-write-bytes`), used and limit.
    pub resource: Option<String>,
    pub used: Option<f64>,
    pub limit: Option<f64>,
}

pub enum Call {
    Init(String, String),
    Teardown,
    OnEvent(String, Vec<u8>),
    OnHook(String, Vec<u8>),
    OnSuspend,
    OnResume,
    OnConfigChanged(String),
    Snapshot,
    Restore(Vec<u8>),
    /// A typed export (index into `Live::exports`) with its checked arguments.
    Export(usize, Vec<wasmtime::component::Val>),
}

pub enum Outcome {
    Status(i32),
    Hook(std::result::Result<Vec<u8>, i32>),
    Bytes(Vec<u8>),
    Export(crate::iface::ExportValue),
}

fn with_live<R>(live: &Mutex<Option<Live>>, f: impl FnOnce(&mut Live) -> std::result::Result<R, Fault>) -> std::result::Result<R, Fault> {
    let mut guard = match live.try_lock() {
        Ok(g) => g,
        Err(TryLockError::WouldBlock) => return Err(Fault::Busy),
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
    };
    let live = guard.as_mut().ok_or(Fault::Disposed)?;
    f(live)
}

fn run_call(live: &mut Live, route: Route, state: StateCell, call: &Call) -> std::result::Result<Outcome, Fault> {
    let export = match call {
        Call::Init(..) => "init",
        Call::Teardown => "teardown",
        Call::OnEvent(..) => "on-event",
        Call::OnHook(..) => "on-hook",
        Call::OnSuspend => "on-suspend",
        Call::OnResume => "on-resume",
        Call::OnConfigChanged(_) => "on-config-changed",
        Call::Snapshot => "snapshot",
        Call::Restore(_) => "restore",
        Call::Export(..) => "typed export",
    };
    let optional = match call {
        Call::OnSuspend => live.on_suspend,
        Call::OnResume => live.on_resume,
        Call::OnConfigChanged(_) => live.on_config_changed,
        Call::Snapshot => live.snapshot,
        Call::Restore(_) => live.restore,
        _ => None,
    };
    if let Call::Export(index, args) = call {
        let (func, plan) = live.exports.get(*index).cloned().ok_or_else(|| Fault::Trap(format!("no typed export {index}")))?;
        return live
            .run(export, route, state, |store, _, _| crate::calls::call_app_export(store, func, args, &plan))
            .map(|v| Outcome::Export(crate::iface::ExportValue(v, plan)));
    }
    live.run(export, route, state, |store, plugin, hook| {
        let guest = plugin.expect("instantiated").plughost_plugin_guest();
        Ok(match call {
            Call::Init(v, c) => Outcome::Status(guest.call_init(store, v, c)?),
            Call::Teardown => Outcome::Status(guest.call_teardown(store)?),
            Call::OnEvent(n, d) => Outcome::Status(guest.call_on_event(store, n, d)?),
            Call::OnHook(n, d) => Outcome::Hook(crate::calls::call_hook(store, hook, n, d)?),
            Call::OnSuspend | Call::OnResume => Outcome::Status(crate::calls::call_lifecycle(store, optional)?),
            Call::OnConfigChanged(config) => Outcome::Status(crate::calls::call_config_changed(store, optional, config)?),
            Call::Snapshot => Outcome::Bytes(crate::calls::call_snapshot(store, optional)?),
            Call::Restore(data) => Outcome::Status(crate::calls::call_restore(store, optional, data)?),
            Call::Export(..) => unreachable!("handled above"),
        })
    })
}

fn to_js(out: Outcome) -> JsOut {
    match out {
        Outcome::Status(s) => Either3::B(s),
        Outcome::Hook(Ok(bytes)) | Outcome::Bytes(bytes) => Either3::A(Buffer::from(bytes)),
        Outcome::Hook(Err(status)) => Either3::B(status),
        Outcome::Export(v) => Either3::C(v),
    }
}

impl NativeInstance {
    pub fn new(
        live: Arc<Mutex<Option<Live>>>,
        control: Arc<Control>,
        jobs: mpsc::Sender<Job>,
        log: SharedLog,
        state: Arc<StateArray>,
        optional: OptionalExports,
        profile: Arc<ProfileSlot>,
        export_plans: Vec<Arc<crate::iface::FnPlan>>,
    ) -> NativeInstance {
        NativeInstance { live, control, jobs: Mutex::new(Some(jobs)), log, state, optional, profile, export_plans }
    }

    /// Queue `call` on the instance's thread; its promise settles from there (or from `dispose`).
    fn submit<'e>(&self, env: &'e Env, call: Call) -> Result<Object<'e>> {
        let (deferred, promise) = env.create_deferred::<JsOut, Resolver<JsOut>>()?;
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(jobs) = jobs else {
            deferred.reject(Fault::Disposed.to_napi());
            return Ok(promise);
        };
        let id = self.control.next_id.fetch_add(1, Ordering::Relaxed);
        self.control.pending.lock().unwrap_or_else(|e| e.into_inner()).push((id, deferred));
        if jobs.send(Job { id, call }).is_err() {
            self.control.settle(id, Err(Fault::Disposed));
        }
        self.control.unpark();
        Ok(promise)
    }
}

#[napi]
impl NativeInstance {
    // ── asynchronous calls: a status number, or for hooks a Buffer (ok) / number (err)

    #[napi(ts_return_type = "Promise<number>")]
    pub fn init<'e>(&self, env: &'e Env, api_version: String, config: String) -> Result<Object<'e>> {
        self.submit(env, Call::Init(api_version, config))
    }

    #[napi(ts_return_type = "Promise<number>")]
    pub fn teardown<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.submit(env, Call::Teardown)
    }

    #[napi(ts_return_type = "Promise<number>")]
    pub fn on_event<'e>(&self, env: &'e Env, event_name: String, data: &[u8]) -> Result<Object<'e>> {
        self.submit(env, Call::OnEvent(event_name, data.to_vec()))
    }

    #[napi(ts_return_type = "Promise<Buffer | number>")]
    pub fn on_hook<'e>(&self, env: &'e Env, event_name: String, data: &[u8]) -> Result<Object<'e>> {
        self.submit(env, Call::OnHook(event_name, data.to_vec()))
    }

    /// `lifecycle.on-suspend`, queued as the other calls; only for a guest that exports it (`hasOnSuspend`).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn on_suspend<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.submit(env, Call::OnSuspend)
    }

    /// `lifecycle.on-resume`, queued as the other calls; only for a guest that exports it (`hasOnResume`).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn on_resume<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.submit(env, Call::OnResume)
    }

    /// `config-watch.on-config-changed` with the whole new configuration as JSON, queued as the other calls; only
    /// for a guest that exports it (`hasOnConfigChanged`).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn on_config_changed<'e>(&self, env: &'e Env, config: String) -> Result<Object<'e>> {
        self.submit(env, Call::OnConfigChanged(config))
    }

    /// `handoff.snapshot`, queued as the other calls; only for a guest that exports it (`hasSnapshot`).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn snapshot<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        self.submit(env, Call::Snapshot)
    }

    /// `handoff.restore`, queued as the other calls; only for a guest that exports it (`hasRestore`).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn restore<'e>(&self, env: &'e Env, data: &[u8]) -> Result<Object<'e>> {
        self.submit(env, Call::Restore(data.to_vec()))
    }

    /// Whether the guest exports `lifecycle.on-suspend`.
    #[napi(getter)]
    pub fn has_on_suspend(&self) -> bool {
        self.optional.on_suspend
    }

    /// Whether the guest exports `lifecycle.on-resume`.
    #[napi(getter)]
    pub fn has_on_resume(&self) -> bool {
        self.optional.on_resume
    }

    /// Whether the guest exports `config-watch.on-config-changed`.
    #[napi(getter)]
    pub fn has_on_config_changed(&self) -> bool {
        self.optional.on_config_changed
    }

    /// Whether the guest exports `handoff.snapshot`.
    #[napi(getter)]
    pub fn has_snapshot(&self) -> bool {
        self.optional.snapshot
    }

    /// Whether the guest exports `handoff.restore`.
    #[napi(getter)]
    pub fn has_restore(&self) -> bool {
        self.optional.restore
    }

    // ── synchronous fast path, on the JS thread

    #[napi]
    pub fn on_event_sync(&self, env: Env, event_name: String, data: &[u8]) -> Result<i32> {
        let state = self.state.cell;
        with_live(&self.live, |live| {
            live.run("on-event", Route::Direct(env.raw()), state, |store, plugin, _| {
                plugin.expect("instantiated").plughost_plugin_guest().call_on_event(store, &event_name, data)
            })
        })
        .map_err(|f| f.to_napi())
    }

    #[napi]
    pub fn on_hook_sync(&self, env: Env, event_name: String, data: &[u8]) -> Result<Either<Buffer, i32>> {
        let state = self.state.cell;
        with_live(&self.live, |live| {
            live.run("on-hook", Route::Direct(env.raw()), state, |store, _, hook| {
                crate::calls::call_hook(store, hook, &event_name, data)
            })
        })
        .map(|r| match r {
            Ok(bytes) => Either::A(Buffer::from(bytes)),
            Err(status) => Either::B(status),
        })
        .map_err(|f| f.to_napi())
    }

    // ── typed exports (iface.rs)

    /// Call typed export `index` (`NativeComponent.appExports()` order) with `args`, a JS array checked against its
    /// parameter types here, before the guest runs (`PWT:ifacevalue:…` when one does not fit); queued as the other
    /// calls. Resolves to the result as a JS value (undefined when the function returns nothing).
    #[napi(ts_return_type = "Promise<unknown>")]
    pub fn call_export<'e>(&self, env: &'e Env, index: u32, args: Unknown) -> Result<Object<'e>> {
        let vals = self.export_args(env, index, &args)?;
        self.submit(env, Call::Export(index as usize, vals))
    }

    /// `callExport` on the JS thread (an app import the guest calls then runs on this thread too, so it must not
    /// return a Promise).
    #[napi(ts_return_type = "unknown")]
    pub fn call_export_sync(&self, env: Env, index: u32, args: Unknown) -> Result<Unknown<'_>> {
        let vals = self.export_args(&env, index, &args)?;
        let state = self.state.cell;
        let out = with_live(&self.live, |live| run_call(live, Route::Direct(env.raw()), state, &Call::Export(index as usize, vals))).map_err(|f| f.to_napi())?;
        let Outcome::Export(v) = out else { return Err(napi::Error::from_reason("PWT:trap:0:a typed export answered something else")) };
        let raw = unsafe { napi::bindgen_prelude::ToNapiValue::to_napi_value(env.raw(), v)? };
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), raw) })
    }

    fn export_args(&self, env: &Env, index: u32, args: &Unknown) -> Result<Vec<wasmtime::component::Val>> {
        let plan = self.export_plans.get(index as usize).cloned().ok_or_else(|| napi::Error::from_reason(format!("PWT:load:0:no typed export {index}")))?;
        unsafe { crate::iface::args_from_js(env.raw(), napi::JsValue::raw(args), &plan) }
            .map_err(|f| napi::Error::from_reason(format!("PWT:ifacevalue:0:{}", f.detail())))
    }

    /// The status call as a bare node-api function bound to this instance:
    /// the fastest synchronous path (see `fast_path.rs`).
    #[napi(ts_return_type = "(eventName: string, data: Uint8Array) => number")]
    pub fn sync_caller(&self, env: Env) -> Result<napi::bindgen_prelude::Unknown<'_>> {
        let f = crate::fast_path::create(env.raw(), crate::fast_path::Bound { live: self.live.clone(), state: self.state.clone() })?;
        Ok(unsafe { napi::bindgen_prelude::Unknown::from_raw_unchecked(env.raw(), f) })
    }

    // ── profiling (profile.rs)

    /// Start sampling the guest's calls with wasmtime's guest profiler, one sample per epoch tick while a call
    /// runs; `name` names the profile. Fails when a profile of this instance already runs.
    #[napi]
    pub fn start_profile(&self, name: String) -> Result<()> {
        self.profile.start(&name).map_err(|why| napi::Error::from_reason(format!("PWT:profile:0:{why}")))
    }

    /// Stop sampling and give the profile as Firefox Profiler "processed profile" JSON (serialized off the JS
    /// thread). Works after `dispose()` too, with what was sampled until then. Rejects when no profile runs.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn stop_profile<'e>(&self, env: &'e Env) -> Result<Object<'e>> {
        let (deferred, promise) = env.create_deferred::<Buffer, Box<dyn FnOnce(Env) -> Result<Buffer> + Send>>()?;
        let Some(profiler) = self.profile.take() else {
            deferred.reject(napi::Error::from_reason("PWT:profile:0:no profile of this instance is running"));
            return Ok(promise);
        };
        let spawned = spawn("plughost-profile", move || match crate::profile::finish(profiler) {
            Ok(json) => deferred.resolve(Box::new(move |_| Ok(Buffer::from(json)))),
            Err(why) => deferred.reject(napi::Error::from_reason(format!("PWT:profile:0:{why}"))),
        });
        if let Err(e) = spawned {
            return Err(napi::Error::from_reason(format!("PWT:profile:0:could not start a thread: {e}")));
        }
        Ok(promise)
    }

    /// Whether a profile of this instance runs (no sampling, and the usual deadline slices, when not).
    #[napi(getter)]
    pub fn profiling(&self) -> bool {
        self.profile.active()
    }

    /// Samples the guest profiler has taken on this instance, over all its profiles.
    #[napi(getter)]
    pub fn profile_samples(&self) -> f64 {
        self.profile.samples() as f64
    }

    // ── drains

    /// Log entries (`host.log` and stdio) buffered since the last drain, and
    /// how many were dropped because the per-call buffer was full.
    #[napi]
    pub fn take_log(&self) -> LogDrain {
        // Clear the flag first: a call thread that logs meanwhile sets it again (calls run while ring calls are in flight).
        self.state.cell.set(crate::calls::STATE_PENDING_LOG, 0.0);
        let (entries, dropped) = self.log.lock().take();
        LogDrain {
            entries: entries.into_iter().map(|(level, message)| LogEntry { level: u32::from(level), message }).collect(),
            dropped: dropped as f64,
        }
    }

    /// Limit breaches that did not fail a call, since the last drain.
    #[napi]
    pub fn take_violations(&self) -> Vec<ViolationEntry> {
        // The flag is cleared under the instance's lock, which the call thread holds while it publishes; while a
        // call runs (busy) it stays set and the next drain takes them.
        let state = self.state.cell;
        let got = with_live(&self.live, |live| {
            state.set(crate::calls::STATE_PENDING_VIOLATIONS, 0.0);
            let limiter = &mut live.store.data_mut().limiter;
            let mut out: Vec<ViolationEntry> =
                limiter.violations.drain(..).map(|v| ViolationEntry {
                    kind: v.kind.to_owned(),
                    detail: v.detail,
                    resource: v.usage.map(|u| u.0.to_owned()),
                    used: v.usage.map(|u| u.1 as f64),
                    limit: v.usage.map(|u| u.2 as f64),
                }).collect();
            if limiter.dropped_violations > 0 {
                out.push(ViolationEntry {
                    kind: "memory".into(),
                    detail: format!("{} more violations not recorded", limiter.dropped_violations),
                    resource: None,
                    used: None,
                    limit: None,
                });
                limiter.dropped_violations = 0;
            }
            Ok(out)
        });
        if matches!(got, Err(Fault::Disposed)) {
            self.state.cell.set(crate::calls::STATE_PENDING_VIOLATIONS, 0.0);
        }
        got.unwrap_or_default()
    }

    // ── the call ring (ring.rs)

    /// Open the instance's call ring: an ArrayBuffer shared with the call thread (layout in ring.rs). `wake` is
    /// called (no arguments) when answers are ready and the JS side had set JS_WAITING. Once per instance.
    #[napi(ts_return_type = "ArrayBuffer")]
    pub fn open_ring(&self, env: Env, wake: napi::bindgen_prelude::Function<(), Unknown<'static>>) -> Result<Unknown<'_>> {
        let (ring, buf) = crate::ring::Ring::create(&env, wake)?;
        if self.control.ring.set(ring).is_err() {
            return Err(napi::Error::from_reason("PWT:load:0:the call ring is already open"));
        }
        // The thread may have parked before the ring existed (so without its PARKED flag): let it look.
        self.control.unpark();
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), buf) })
    }

    /// Intern an event name for ring calls: its id, or -1 when the instance has too many names (use `onEvent`).
    #[napi]
    pub fn ring_name(&self, name: String) -> i32 {
        self.control.ring.get().map_or(-1, |r| r.intern(name))
    }

    /// Data for the next ring slot submitted with OP_STASHED (too long to fit inline).
    #[napi]
    pub fn ring_stash(&self, data: &[u8]) {
        if let Some(r) = self.control.ring.get() {
            r.stash(data.to_vec());
        }
    }

    /// The reason (`PWT:…`) of the next ring call answered with a fault.
    #[napi]
    pub fn ring_error(&self) -> Option<String> {
        self.control.ring.get().and_then(|r| r.take_error())
    }

    /// Wake the call thread (it set PARKED).
    #[napi]
    pub fn ring_wake(&self) {
        self.control.unpark();
    }

    /// Keep the event loop alive while ring calls are in flight and the JS side sleeps (or stop keeping it).
    #[napi]
    pub fn ring_refer(&self, env: Env, on: bool) -> Result<()> {
        match self.control.ring.get() {
            Some(r) => r.refer(&env, on),
            None => Ok(()),
        }
    }

    /// End the instance, even mid-call: stop the running call, reject the
    /// pending ones (`PWT:disposed`), and let the call thread drop the store.
    /// Returns once that thread has ended (within an epoch slice, at most
    /// 250 ms); idempotent.
    #[napi]
    pub fn dispose(&self) -> Result<()> {
        self.control.stop.store(true, Ordering::SeqCst);
        drop(self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.control.unpark();
        self.control.abandon_all();
        self.control.wait_finished(Duration::from_millis(250));
        Ok(())
    }
}
