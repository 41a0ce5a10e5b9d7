//! A live plugin instance as a JS object: the synchronous fast path, the
//! asynchronous calls (libuv worker threads, so calls into different plugins
//! run in parallel), and the drains for log output and violations.
//!
//! One call at a time: the instance sits behind a mutex that is only ever
//! *tried*. A call that finds it held (a re-entrant call from a host
//! function, or a sync call while an async one runs) fails at once with
//! `busy`, which the TS side raises as `ReentrancyError`. Nothing waits.

use crate::calls::{Live, StateCell};
use crate::fault::Fault;
use crate::host::Route;
use crate::output::SharedLog;
use napi::bindgen_prelude::{AsyncTask, Buffer, Either, Float64Array};
use napi::{Env, Result, Task};
use napi_derive::napi;
use std::sync::{Arc, Mutex, TryLockError};

#[napi]
pub struct NativeInstance {
    live: Arc<Mutex<Option<Live>>>,
    log: SharedLog,
    state: StateCell,
    /// Keeps the shared state array (and so `state`'s target) alive.
    _state_array: Option<Float64Array>,
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
}

pub enum Call {
    Init(String, String),
    Teardown,
    OnEvent(String, Vec<u8>),
    OnHook(String, Vec<u8>),
}

pub enum Outcome {
    Status(i32),
    Hook(std::result::Result<Vec<u8>, i32>),
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
    live.run(route, state, |store, plugin| {
        let guest = plugin.expect("instantiated").plughost_plugin_guest();
        Ok(match call {
            Call::Init(v, c) => Outcome::Status(guest.call_init(store, v, c)?),
            Call::Teardown => Outcome::Status(guest.call_teardown(store)?),
            Call::OnEvent(n, d) => Outcome::Status(guest.call_on_event(store, n, d)?),
            Call::OnHook(n, d) => Outcome::Hook(guest.call_on_hook(store, n, d)?),
        })
    })
}

fn to_js(out: Outcome) -> Either<Buffer, i32> {
    match out {
        Outcome::Status(s) => Either::B(s),
        Outcome::Hook(Ok(bytes)) => Either::A(Buffer::from(bytes)),
        Outcome::Hook(Err(status)) => Either::B(status),
    }
}

pub struct CallTask {
    live: Arc<Mutex<Option<Live>>>,
    state: StateCell,
    call: Call,
}

impl Task for CallTask {
    type Output = Outcome;
    type JsValue = Either<Buffer, i32>;

    fn compute(&mut self) -> Result<Outcome> {
        let (state, call) = (self.state, &self.call);
        with_live(&self.live, |live| run_call(live, Route::Threaded(None), state, call)).map_err(|f| f.to_napi())
    }

    fn resolve(&mut self, _env: Env, out: Outcome) -> Result<Self::JsValue> {
        Ok(to_js(out))
    }
}

impl NativeInstance {
    pub fn new(live: Live, log: SharedLog, state: StateCell, array: Option<Float64Array>) -> NativeInstance {
        NativeInstance { live: Arc::new(Mutex::new(Some(live))), log, state, _state_array: array }
    }

    fn task(&self, call: Call) -> AsyncTask<CallTask> {
        AsyncTask::new(CallTask { live: self.live.clone(), state: self.state, call })
    }
}

#[napi]
impl NativeInstance {
    // ── asynchronous calls: a status number, or for hooks a Buffer (ok) / number (err)

    #[napi(ts_return_type = "Promise<number>")]
    pub fn init(&self, api_version: String, config: String) -> AsyncTask<CallTask> {
        self.task(Call::Init(api_version, config))
    }

    #[napi(ts_return_type = "Promise<number>")]
    pub fn teardown(&self) -> AsyncTask<CallTask> {
        self.task(Call::Teardown)
    }

    #[napi(ts_return_type = "Promise<number>")]
    pub fn on_event(&self, event_name: String, data: &[u8]) -> AsyncTask<CallTask> {
        self.task(Call::OnEvent(event_name, data.to_vec()))
    }

    #[napi]
    pub fn on_hook(&self, event_name: String, data: &[u8]) -> AsyncTask<CallTask> {
        self.task(Call::OnHook(event_name, data.to_vec()))
    }

    // ── synchronous fast path, on the JS thread

    #[napi]
    pub fn on_event_sync(&self, env: Env, event_name: String, data: &[u8]) -> Result<i32> {
        let state = self.state;
        with_live(&self.live, |live| {
            live.run(Route::Direct(env.raw()), state, |store, plugin| {
                plugin.expect("instantiated").plughost_plugin_guest().call_on_event(store, &event_name, data)
            })
        })
        .map_err(|f| f.to_napi())
    }

    #[napi]
    pub fn on_hook_sync(&self, env: Env, event_name: String, data: &[u8]) -> Result<Either<Buffer, i32>> {
        let state = self.state;
        with_live(&self.live, |live| {
            live.run(Route::Direct(env.raw()), state, |store, plugin| {
                plugin.expect("instantiated").plughost_plugin_guest().call_on_hook(store, &event_name, data)
            })
        })
        .map(|r| to_js(Outcome::Hook(r)))
        .map_err(|f| f.to_napi())
    }

    /// The status call as a bare node-api function bound to this instance:
    /// the fastest synchronous path (see `fast_path.rs`).
    #[napi(ts_return_type = "(eventName: string, data: Uint8Array) => number")]
    pub fn sync_caller(&self, env: Env) -> Result<napi::bindgen_prelude::Unknown<'_>> {
        let f = crate::fast_path::create(env.raw(), crate::fast_path::Bound { live: self.live.clone(), state: self.state })?;
        Ok(unsafe { napi::bindgen_prelude::Unknown::from_raw_unchecked(env.raw(), f) })
    }

    // ── drains

    /// Log entries (`host.log` and stdio) buffered since the last drain, and
    /// how many were dropped because the per-call buffer was full.
    #[napi]
    pub fn take_log(&self) -> LogDrain {
        let (entries, dropped) = self.log.lock().take();
        self.state.set(crate::calls::STATE_PENDING_LOG, 0.0);
        LogDrain {
            entries: entries.into_iter().map(|(level, message)| LogEntry { level: u32::from(level), message }).collect(),
            dropped: dropped as f64,
        }
    }

    /// Limit breaches that did not fail a call, since the last drain.
    #[napi]
    pub fn take_violations(&self) -> Vec<ViolationEntry> {
        let got = with_live(&self.live, |live| {
            let limiter = &mut live.store.data_mut().limiter;
            let mut out: Vec<ViolationEntry> =
                limiter.violations.drain(..).map(|v| ViolationEntry { kind: v.kind.to_owned(), detail: v.detail }).collect();
            if limiter.dropped_violations > 0 {
                out.push(ViolationEntry { kind: "memory".into(), detail: format!("{} more violations not recorded", limiter.dropped_violations) });
                limiter.dropped_violations = 0;
            }
            Ok(out)
        });
        self.state.set(crate::calls::STATE_PENDING_VIOLATIONS, 0.0);
        got.unwrap_or_default()
    }

    /// Drop the store and everything in it. Idempotent; refused while a call runs.
    #[napi]
    pub fn dispose(&self) -> Result<()> {
        match self.live.try_lock() {
            Ok(mut g) => {
                g.take();
                Ok(())
            }
            Err(TryLockError::Poisoned(p)) => {
                p.into_inner().take();
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(Fault::Busy.to_napi()),
        }
    }
}
