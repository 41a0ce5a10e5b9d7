//! The `plughost:plugin/host` interface, calling back into the JS `HostCalls`.
//!
//! One JS dispatcher function serves every host call:
//! `hostCall(op, a, b, data) -> number | string`. How it is reached depends on
//! the thread the guest runs on:
//!
//! * on the JS thread (the synchronous fast path) it is called directly;
//! * on a worker thread (async calls) through a thread-safe function, and the
//!   worker blocks for the answer. The JS thread never waits for a worker, so
//!   this cannot deadlock: a JS-side call into a busy instance is refused at
//!   once (`ReentrancyError`) instead of waiting for it.
//!
//! `log` never goes to JS during a call: it is buffered with stdio output
//! (see `output.rs`) and delivered when the call returns.

use crate::output::SharedLog;
use napi::bindgen_prelude::{Either, FnArgs, FunctionRef, Uint8Array};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use std::sync::mpsc;
use std::time::{Duration, Instant};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
});

pub use plughost::plugin::types::{LogLevel, MessageError, RegisterError};

/// Operation codes of the JS dispatcher (`src/engines/wasmtime-host.ts`).
pub mod op {
    pub const REGISTER_CALLBACK: u32 = 1;
    pub const EMIT: u32 = 2;
    pub const SEND: u32 = 3;
    pub const GET_CONFIG: u32 = 4;
    pub const GET_CONFIG_VALUE: u32 = 5;
}

/// The dispatcher returns this number when the host function threw; the
/// guest then traps, and the TS side rethrows the stashed JS error.
pub const HOST_FAILED: f64 = -2147483648.0;

/// Spread into four JS arguments (a bare tuple would arrive as one array).
pub type HostArgs = FnArgs<(u32, String, String, Option<Uint8Array>)>;
pub type HostReply = Either<f64, String>;
pub type HostTsfn = ThreadsafeFunction<HostArgs, HostReply, HostArgs, Status, false, true>;

/// Where the current call runs, and so how to reach JS.
#[derive(Clone, Copy)]
pub enum Route {
    /// On the JS thread: call the dispatcher directly with this env.
    Direct(napi::sys::napi_env),
    /// On a worker: use the thread-safe function; give up at this instant.
    Threaded(Option<Instant>),
}

// The raw env is only used while the call that set it runs on the JS thread.
unsafe impl Send for Route {}

/// The error raised into the guest (as a trap) when a host call cannot be made.
#[derive(Debug)]
pub struct HostCallFailed(pub String);

impl std::fmt::Display for HostCallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host call failed: {}", self.0)
    }
}
impl std::error::Error for HostCallFailed {}

/// The deadline passed while a worker waited for the JS thread to answer.
#[derive(Debug)]
pub struct HostCallTimedOut;

impl std::fmt::Display for HostCallTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline passed while waiting for the host")
    }
}
impl std::error::Error for HostCallTimedOut {}

/// Fuel that wit-component's import glue costs on wasmtime per host call, to
/// be given back (see `glue_fuel`). A component reaches each `host` import
/// through a shim function (`local.get` of each core parameter, `i32.const`,
/// `call_indirect`): with calls charged at entry, that is core parameters + 2
/// units where the v8 engine, which wires the import straight into the guest,
/// counts 1 for the `call`. A result lowered through `cabi_realloc` adds that
/// function's entry (1), which v8 does not charge.
mod glue {
    pub const LOG: u64 = 3 + 1; // level, ptr, len
    pub const REGISTER_CALLBACK: u64 = 3 + 1; // ptr, len, ret
    pub const EMIT: u64 = 5 + 1; // ptr, len, ptr, len, ret
    pub const SEND: u64 = 7 + 1; // 3 × (ptr, len), ret
    pub const GET_CONFIG: u64 = 1 + 1 + 1; // ret; the string's realloc
    pub const GET_CONFIG_VALUE: u64 = 3 + 1; // ptr, len, ret; + 1 when a string is returned
}

pub struct HostBridge {
    pub route: Route,
    /// Glue fuel of the host calls made during the current call; the call's
    /// fuel figure leaves it out, so both engines count the guest's own code.
    pub glue_fuel: u64,
    direct: FunctionRef<HostArgs, HostReply>,
    threaded: HostTsfn,
    pub log: SharedLog,
}

impl HostBridge {
    pub fn new(direct: FunctionRef<HostArgs, HostReply>, threaded: HostTsfn, log: SharedLog) -> HostBridge {
        HostBridge { route: Route::Threaded(None), glue_fuel: 0, direct, threaded, log }
    }

    fn call(&self, args: HostArgs) -> wasmtime::Result<HostReply> {
        let reply = match self.route {
            Route::Direct(raw_env) => {
                let env = Env::from_raw(raw_env);
                let f = self.direct.borrow_back(&env).map_err(|e| HostCallFailed(e.reason.clone()))?;
                f.call(args).map_err(|e| HostCallFailed(e.reason.clone()))?
            }
            Route::Threaded(deadline) => {
                let (tx, rx) = mpsc::sync_channel::<Result<HostReply, String>>(1);
                let status = self.threaded.call_with_return_value(args, ThreadsafeFunctionCallMode::Blocking, move |ret, _env| {
                    let _ = tx.send(ret.map_err(|e| e.reason.clone()));
                    Ok(())
                });
                if status != Status::Ok {
                    return Err(HostCallFailed(format!("the JS thread is not accepting calls ({status})")).into());
                }
                let got = match deadline {
                    Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))) {
                        Ok(v) => v,
                        Err(mpsc::RecvTimeoutError::Timeout) => return Err(HostCallTimedOut.into()),
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(HostCallFailed("the JS thread went away".into()).into()),
                    },
                    None => rx.recv().map_err(|_| HostCallFailed("the JS thread went away".into()))?,
                };
                got.map_err(HostCallFailed)?
            }
        };
        if let Either::A(n) = reply {
            if n == HOST_FAILED {
                return Err(HostCallFailed("the host function threw".into()).into());
            }
        }
        Ok(reply)
    }

    fn number(&self, args: HostArgs) -> wasmtime::Result<f64> {
        match self.call(args)? {
            Either::A(n) => Ok(n),
            Either::B(_) => Err(HostCallFailed("the dispatcher returned a string where a number was expected".into()).into()),
        }
    }
}

fn message_error(code: f64) -> MessageError {
    match code as i64 {
        -1 => MessageError::InvalidName,
        -2 => MessageError::UnknownTarget,
        -3 => MessageError::Denied,
        -4 => MessageError::QueueFull,
        _ => MessageError::TooLarge,
    }
}

impl plughost::plugin::types::Host for HostBridge {}

impl plughost::plugin::host::Host for HostBridge {
    fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let level = match level {
            LogLevel::Debug => 0,
            LogLevel::Info => 1,
            LogLevel::Warn => 2,
            LogLevel::Error => 3,
        };
        self.glue_fuel += glue::LOG;
        self.log.lock().push(level, message);
        Ok(())
    }

    fn register_callback(&mut self, event_name: String) -> wasmtime::Result<Result<(), RegisterError>> {
        self.glue_fuel += glue::REGISTER_CALLBACK;
        let code = self.number((op::REGISTER_CALLBACK, event_name, String::new(), None).into())?;
        Ok(match code as i64 {
            0 => Ok(()),
            1 => Err(RegisterError::InvalidName),
            2 => Err(RegisterError::LimitReached),
            _ => Err(RegisterError::Denied),
        })
    }

    fn emit(&mut self, event_name: String, data: Vec<u8>) -> wasmtime::Result<Result<u32, MessageError>> {
        self.glue_fuel += glue::EMIT;
        let n = self.number((op::EMIT, event_name, String::new(), Some(Uint8Array::from(data))).into())?;
        Ok(if n >= 0.0 { Ok(n as u32) } else { Err(message_error(n)) })
    }

    fn send(&mut self, target: String, event_name: String, data: Vec<u8>) -> wasmtime::Result<Result<(), MessageError>> {
        self.glue_fuel += glue::SEND;
        let n = self.number((op::SEND, target, event_name, Some(Uint8Array::from(data))).into())?;
        Ok(if n >= 0.0 { Ok(()) } else { Err(message_error(n)) })
    }

    fn get_config(&mut self) -> wasmtime::Result<String> {
        self.glue_fuel += glue::GET_CONFIG;
        match self.call((op::GET_CONFIG, String::new(), String::new(), None).into())? {
            Either::B(s) => Ok(s),
            Either::A(_) => Ok("{}".into()),
        }
    }

    fn get_config_value(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        self.glue_fuel += glue::GET_CONFIG_VALUE;
        match self.call((op::GET_CONFIG_VALUE, key, String::new(), None).into())? {
            Either::B(s) => {
                self.glue_fuel += 1;
                Ok(Some(s))
            }
            Either::A(_) => Ok(None),
        }
    }
}
