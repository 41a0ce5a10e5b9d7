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
//!
//! The functions are linked by hand (`add_to_linker`) rather than through
//! bindgen's `Host` trait, for two reasons. Arguments are lifted by the types
//! of `abi.rs`, which leave bounds and UTF-8 to the function, so a broken
//! argument is reported as what it is ("emit: event data [p, q) is outside
//! the guest's N-byte memory"); and each function reaches the store, so it
//! charges the guest fuel for the work it does (contract: 1 unit per 64
//! bytes copied, at least 1 per call; 1,000 per message queued), before
//! doing it.

use crate::abi::{GuestBytes, GuestLevel, GuestMetricKind, Key, LabelNames, LabelValues, LogText, MetricHelp, MetricName, Name, Target};
use crate::contract;
use crate::output::SharedLog;
use crate::requests::{NoAnswer, Ticket};
use crate::store::{StoreData, Stopped};
use napi::bindgen_prelude::{Either3, FnArgs, FunctionRef, Uint8Array};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wasmtime::component::Linker;
use wasmtime::StoreContextMut;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: trappable },
});

pub use plughost::plugin::types::{ContextError, KeyPage, MessageError, MessageInfo, MessageKind, MetricError, RegisterError, RequestError, StateError};

/// Operation codes of the JS dispatcher (`src/engines/wasmtime-host.ts`).
pub mod op {
    pub const REGISTER_CALLBACK: u32 = 1;
    pub const EMIT: u32 = 2;
    pub const SEND: u32 = 3;
    pub const GET_CONFIG: u32 = 4;
    pub const GET_CONFIG_VALUE: u32 = 5;
    pub const DEFINE_METRIC: u32 = 6;
    pub const RECORD_METRIC: u32 = 7;
    pub const REQUEST: u32 = 8;
    pub const CURRENT_MESSAGE: u32 = 9;
    pub const STATE_GET: u32 = 10;
    pub const STATE_SET: u32 = 11;
    pub const STATE_DELETE: u32 = 12;
    pub const STATE_EXISTS: u32 = 13;
    pub const STATE_LIST_KEYS: u32 = 14;
    pub const STATE_INCREMENT: u32 = 15;
    pub const STATE_COMPARE_AND_SWAP: u32 = 16;
    pub const CONTEXT_GET: u32 = 17;
    pub const CONTEXT_SET: u32 = 18;
}

/// The dispatcher returns this number when the host function threw; the
/// guest then traps, and the TS side rethrows the stashed JS error.
pub const HOST_FAILED: f64 = -2147483648.0;

/// Spread into four JS arguments (a bare tuple would arrive as one array).
pub type HostArgs = FnArgs<(u32, String, String, Option<Uint8Array>)>;
/// A number, a string, or bytes (a synchronous request's answer, a packed message-info).
pub type HostReply = Either3<f64, String, Uint8Array>;
pub type HostTsfn = ThreadsafeFunction<HostArgs, HostReply, HostArgs, Status, false, true>;

/// A dispatcher's answer, owned (copied off the JS value on the JS thread).
pub(crate) enum Reply {
    Number(f64),
    Text(String),
    Bytes(Vec<u8>),
}

fn own(reply: HostReply) -> Reply {
    match reply {
        Either3::A(n) => Reply::Number(n),
        Either3::B(s) => Reply::Text(s),
        Either3::C(b) => Reply::Bytes(b.to_vec()),
    }
}

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
    pub const DEFINE_METRIC: u64 = 8 + 1; // kind, 3 × (ptr, len), ret
    pub const RECORD_METRIC: u64 = 5 + 1; // id, value, ptr, len, ret
    pub const REQUEST: u64 = 8 + 1; // 3 × (ptr, len), timeout, ret; + 1 when an answer is returned
    pub const CURRENT_MESSAGE: u64 = 1 + 1; // ret; + 1 per string and list of a returned message-info
}

pub struct HostBridge {
    pub route: Route,
    /// Glue fuel of the host calls made during the current call; the call's
    /// fuel figure leaves it out, so both engines count the guest's own code.
    pub glue_fuel: u64,
    direct: FunctionRef<HostArgs, HostReply>,
    threaded: HostTsfn,
    pub log: SharedLog,
    /// A longer emit/send payload is `too-large` and is not copied (the host's `maxMessageBytes`).
    pub max_message_bytes: usize,
    /// Which of the optional state and context members the host has (bit `op - STATE_GET`); without one the call
    /// is `denied` before anything is read or paid for, as on v8.
    pub state_members: u32,
}

/// How long a worker waits for the JS thread before it looks at the stop flag again.
const WAIT_SLICE: Duration = Duration::from_millis(20);

impl HostBridge {
    pub fn new(direct: FunctionRef<HostArgs, HostReply>, threaded: HostTsfn, log: SharedLog, max_message_bytes: usize) -> HostBridge {
        HostBridge { route: Route::Threaded(None), glue_fuel: 0, direct, threaded, log, max_message_bytes, state_members: 0 }
    }

    fn call(&self, args: HostArgs, stop: &AtomicBool) -> wasmtime::Result<Reply> {
        let reply = match self.route {
            Route::Direct(raw_env) => {
                let env = Env::from_raw(raw_env);
                let f = self.direct.borrow_back(&env).map_err(|e| HostCallFailed(e.reason.clone()))?;
                own(f.call(args).map_err(|e| HostCallFailed(e.reason.clone()))?)
            }
            Route::Threaded(deadline) => {
                let (tx, rx) = mpsc::sync_channel::<Result<Reply, String>>(1);
                let status = self.threaded.call_with_return_value(args, ThreadsafeFunctionCallMode::Blocking, move |ret, _env| {
                    let _ = tx.send(ret.map(own).map_err(|e| e.reason.clone()));
                    Ok(())
                });
                if status != Status::Ok {
                    return Err(HostCallFailed(format!("the JS thread is not accepting calls ({status})")).into());
                }
                // Wait in slices: a dispose (stop) or the deadline ends the wait.
                let got = loop {
                    let slice = match deadline {
                        Some(at) => at.saturating_duration_since(Instant::now()).clamp(Duration::from_millis(1), WAIT_SLICE),
                        None => WAIT_SLICE,
                    };
                    match rx.recv_timeout(slice) {
                        Ok(v) => break v,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if stop.load(Ordering::Relaxed) {
                                return Err(Stopped.into());
                            }
                            if deadline.is_some_and(|at| Instant::now() >= at) {
                                return Err(HostCallTimedOut.into());
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Err(HostCallFailed("the JS thread went away".into()).into()),
                    }
                };
                got.map_err(HostCallFailed)?
            }
        };
        if let Reply::Number(n) = reply {
            if n == HOST_FAILED {
                return Err(HostCallFailed("the host function threw".into()).into());
            }
        }
        Ok(reply)
    }
}

/// The WIT case of a C ABI message status (-1 - code; contract.rs has the codes).
fn message_error(status: f64) -> MessageError {
    use contract::message_error as m;
    match contract::message_error_from_status(status as i64) {
        Some(m::INVALID_NAME) => MessageError::InvalidName,
        Some(m::UNKNOWN_TARGET) => MessageError::UnknownTarget,
        Some(m::DENIED) => MessageError::Denied,
        Some(m::QUEUE_FULL) => MessageError::QueueFull,
        _ => MessageError::TooLarge,
    }
}

/// The WIT case of a metric status (-1 - code), as the JS dispatcher answers a refused define / record.
fn metric_error(status: f64) -> MetricError {
    use contract::metric_error as m;
    match u32::try_from(-1 - status as i64).ok() {
        Some(m::INVALID_NAME) => MetricError::InvalidName,
        Some(m::INVALID_LABELS) => MetricError::InvalidLabels,
        Some(m::INVALID_VALUE) => MetricError::InvalidValue,
        Some(m::LIMIT_REACHED) => MetricError::LimitReached,
        Some(m::CONFLICT) => MetricError::Conflict,
        Some(m::UNKNOWN_METRIC) => MetricError::UnknownMetric,
        _ => MetricError::Denied,
    }
}

/// The WIT case of a `request-error` code (contract.rs has the codes); an unknown code is `failed`.
fn request_error(code: u32) -> RequestError {
    use contract::request_error as r;
    match code {
        r::INVALID_NAME => RequestError::InvalidName,
        r::UNKNOWN_TARGET => RequestError::UnknownTarget,
        r::NOT_HANDLED => RequestError::NotHandled,
        r::DENIED => RequestError::Denied,
        r::TOO_LARGE => RequestError::TooLarge,
        r::CYCLE => RequestError::Cycle,
        r::TOO_DEEP => RequestError::TooDeep,
        r::TIMEOUT => RequestError::Timeout,
        r::REJECTED => RequestError::Rejected,
        r::WOULD_BLOCK => RequestError::WouldBlock,
        _ => RequestError::Failed,
    }
}

/// The `request-error` code of a refused request as the dispatcher answers it (-1 - code).
fn request_status(status: f64) -> u32 {
    u32::try_from(-1 - status as i64).unwrap_or(contract::request_error::FAILED)
}

/// A `message-info` as the JS dispatcher packs it (`src/engines/wasmtime/host.ts`, `packMessage`):
/// [flags u8: 1 parent, 2 source, 4 target][kind u8][6 zero bytes][id f64][parent f64][metadata count u32],
/// then [u32 length][UTF-8] strings: source?, target?, event name, then each key and value.
/// With the number of strings and lists the guest's `cabi_realloc` will be called for, and their bytes.
fn unpack_message(b: &[u8]) -> Option<(MessageInfo, u64, usize)> {
    let flags = *b.first()?;
    let kind = match u32::from(*b.get(1)?) {
        contract::message_kind::EVENT => MessageKind::Event,
        contract::message_kind::HOOK => MessageKind::Hook,
        contract::message_kind::REQUEST => MessageKind::Request,
        _ => return None,
    };
    let f64_at = |at: usize| b.get(at..at + 8).map(|w| f64::from_le_bytes(w.try_into().unwrap_or_default()));
    let id = f64_at(8)? as u64;
    let parent = f64_at(16)? as u64;
    let count = u32::from_le_bytes(b.get(24..28)?.try_into().ok()?) as usize;
    let mut at = 28;
    let mut bytes = 0usize;
    let mut next = || -> Option<String> {
        let len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 4..at + 4 + len)?).ok()?.to_owned();
        at += 4 + len;
        bytes += len;
        Some(s)
    };
    let source = if flags & 2 != 0 { Some(next()?) } else { None };
    let target = if flags & 4 != 0 { Some(next()?) } else { None };
    let event_name = next()?;
    // Each entry is two strings: the count cannot claim more than the bytes hold.
    if count > b.len() / 8 {
        return None;
    }
    let mut metadata = Vec::with_capacity(count);
    for _ in 0..count {
        let k = next()?;
        let v = next()?;
        metadata.push((k, v));
    }
    drop(next);
    let reallocs = u64::from(source.is_some()) + u64::from(target.is_some()) + 2 + 2 * count as u64;
    // The list's (key, value) elements are copied too: 16 bytes each.
    bytes += 16 * count;
    let info = MessageInfo { id, parent_id: (flags & 1 != 0).then_some(parent), source, target, event_name, kind, metadata };
    Some((info, reallocs, bytes))
}

// ── fuel for host work ──────────────────────────────────────────────────────

/// Longest event name (`src/contract/event-names.ts`); a longer one is refused unread.
const MAX_EVENT_NAME_BYTES: usize = 128;
/// Longest `request` target: longer is no plugin's or service's name (v8: `MAX_REQUEST_TARGET_BYTES`).
const MAX_REQUEST_TARGET_BYTES: usize = 1024;

/// Fuel per message the host queues for the guest (emit, send).
pub const FUEL_PER_MESSAGE: u64 = 1000;
/// Fuel per metric defined (the host allocates its series store).
pub const FUEL_PER_METRIC_DEFINED: u64 = 1000;

/// Fuel for copying `bytes` between guest and host: 1 per 64 bytes, rounded up.
pub(crate) fn byte_fuel(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(64)
}

/// Fuel for a host call that copies `bytes`: at least 1 (the call itself).
pub(crate) fn cost(bytes: usize) -> u64 {
    byte_fuel(bytes).max(1)
}

/// Why a message is refused before anything of it is read (as on v8).
fn refuse_unread(store: &StoreContextMut<'_, StoreData>, name: &Name, data: &GuestBytes) -> Option<MessageError> {
    if name.over_cap() {
        Some(MessageError::InvalidName)
    } else if data.len() > store.data().host.max_message_bytes {
        Some(MessageError::TooLarge)
    } else {
        None
    }
}

/// Take `units` from the call's fuel before doing the work; out of fuel is the
/// same trap as running out in wasm (`FuelExhausted`). Unmetered calls have a
/// budget no host work can reach, so for them this changes nothing.
pub(crate) fn charge(store: &mut StoreContextMut<'_, StoreData>, units: u64) -> wasmtime::Result<()> {
    let left = store.get_fuel()?;
    if left < units {
        store.set_fuel(0)?;
        return Err(wasmtime::Trap::OutOfFuel.into());
    }
    store.set_fuel(left - units)?;
    Ok(())
}

/// A request's answer: the bytes, or a `request-error` code. On the JS
/// thread (a synchronous call) the dispatcher answers with the bytes or a
/// refusal at once (the host's `requestSync`); on the call thread it starts
/// the host's `request` and answers through `completeRequest` (requests.rs),
/// and this thread waits for that, until the call is disposed or its
/// deadline passes.
fn request_answer(store: &mut StoreContextMut<'_, StoreData>, target: String, name: String, data: &GuestBytes, timeout_ms: u32) -> wasmtime::Result<Result<Vec<u8>, u32>> {
    // data: [timeout-ms u32][ticket u32, 0 on the JS thread][payload].
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&timeout_ms.to_le_bytes());
    let route = store.data().host.route;
    let ticket = match route {
        Route::Direct(_) => None,
        Route::Threaded(_) => Some(Ticket::take()),
    };
    if let Some(t) = &ticket {
        header[4..].copy_from_slice(&t.id.to_le_bytes());
    }
    let bytes = data.read_after(store, &header, "request", "request data")?;
    let reply = dispatch(store, (op::REQUEST, target, name, Some(bytes)).into())?;
    Ok(match (reply, ticket) {
        (Reply::Bytes(answer), _) => Ok(answer),
        (Reply::Number(n), Some(ticket)) if n >= 0.0 => {
            let deadline = match route {
                Route::Threaded(deadline) => deadline,
                Route::Direct(_) => None,
            };
            let stop = store.data().stop.clone();
            match ticket.wait(&stop, deadline, WAIT_SLICE) {
                Ok(answer) => answer,
                Err(NoAnswer::Stopped) => return Err(Stopped.into()),
                Err(NoAnswer::Deadline) => return Err(HostCallTimedOut.into()),
            }
        }
        (Reply::Number(n), _) => Err(request_status(n)),
        (Reply::Text(_), _) => return Err(HostCallFailed("the dispatcher answered a request with a string".into()).into()),
    })
}

/// Call the JS dispatcher with the store's route and stop flag.
pub(crate) fn dispatch(store: &mut StoreContextMut<'_, StoreData>, args: HostArgs) -> wasmtime::Result<Reply> {
    let data = store.data();
    data.host.call(args, &data.stop)
}

fn number(store: &mut StoreContextMut<'_, StoreData>, args: HostArgs) -> wasmtime::Result<f64> {
    match dispatch(store, args)? {
        Reply::Number(n) => Ok(n),
        _ => Err(HostCallFailed("the dispatcher returned a string or bytes where a number was expected".into()).into()),
    }
}

/// The name of the `plughost:plugin` interfaces in the linker (wit/plugin.wit's package version).
use contract::{HOST_INTERFACE as HOST, TYPES_INTERFACE as TYPES};

/// Link `plughost:plugin/host` (and the types-only interface it uses).
pub fn add_to_linker(linker: &mut Linker<StoreData>) -> wasmtime::Result<()> {
    linker.instance(TYPES)?;
    let mut host = linker.instance(HOST)?;

    host.func_wrap("log", |mut store: StoreContextMut<'_, StoreData>, (level, message): (GuestLevel, LogText)| {
        let level = level.check("log")?;
        charge(&mut store, cost(message.read_len()))?;
        let message = message.read_prefix(&store, "log", "log message")?;
        let data = store.data_mut();
        data.host.glue_fuel += glue::LOG;
        data.host.log.lock().push(level, message);
        Ok(())
    })?;

    host.func_wrap("register-callback", |mut store: StoreContextMut<'_, StoreData>, (name,): (Name,)| {
        charge(&mut store, cost(name.read_len()))?;
        store.data_mut().host.glue_fuel += glue::REGISTER_CALLBACK;
        if name.over_cap() {
            return Ok((Err(RegisterError::InvalidName),));
        }
        let name = name.read(&store, "register-callback", "event name")?;
        let code = number(&mut store, (op::REGISTER_CALLBACK, name, String::new(), None).into())?;
        use contract::register_error as r;
        Ok((match (code as i64, contract::register_error_from_status(code as i64)) {
            (0, _) => Ok(()),
            (_, Some(r::INVALID_NAME)) => Err(RegisterError::InvalidName),
            (_, Some(r::LIMIT_REACHED)) => Err(RegisterError::LimitReached),
            _ => Err(RegisterError::Denied),
        },))
    })?;

    host.func_wrap("emit", |mut store: StoreContextMut<'_, StoreData>, (name, data): (Name, GuestBytes)| {
        store.data_mut().host.glue_fuel += glue::EMIT;
        if let Some(refused) = refuse_unread(&store, &name, &data) {
            charge(&mut store, cost(0))?;
            return Ok((Err(refused),));
        }
        charge(&mut store, cost(name.len() + data.len()) + FUEL_PER_MESSAGE)?;
        let name = name.read(&store, "emit", "event name")?;
        let bytes = data.read(&store, "emit", "event data")?;
        let n = number(&mut store, (op::EMIT, name, String::new(), Some(bytes)).into())?;
        // One message was paid for up front; a fan-out to several subscribers pays for the rest.
        if n > 1.0 {
            charge(&mut store, (n as u64 - 1).saturating_mul(FUEL_PER_MESSAGE))?;
        }
        Ok((if n >= 0.0 { Ok(n as u32) } else { Err(message_error(n)) },))
    })?;

    host.func_wrap("send", |mut store: StoreContextMut<'_, StoreData>, (target, name, data): (Target, Name, GuestBytes)| {
        store.data_mut().host.glue_fuel += glue::SEND;
        let refused = refuse_unread(&store, &name, &data).or(target.over_cap().then_some(MessageError::UnknownTarget));
        if let Some(refused) = refused {
            charge(&mut store, cost(0))?;
            return Ok((Err(refused),));
        }
        charge(&mut store, cost(target.len() + name.len() + data.len()) + FUEL_PER_MESSAGE)?;
        let target = target.read(&store, "send", "target")?;
        let name = name.read(&store, "send", "event name")?;
        let bytes = data.read(&store, "send", "event data")?;
        let n = number(&mut store, (op::SEND, target, name, Some(bytes)).into())?;
        Ok((if n >= 0.0 { Ok(()) } else { Err(message_error(n)) },))
    })?;

    host.func_wrap("get-config", |mut store: StoreContextMut<'_, StoreData>, (): ()| {
        store.data_mut().host.glue_fuel += glue::GET_CONFIG;
        let config = match dispatch(&mut store, (op::GET_CONFIG, String::new(), String::new(), None).into())? {
            Reply::Text(s) => s,
            _ => "{}".into(),
        };
        // Paid before it is copied into the guest.
        charge(&mut store, cost(config.len()))?;
        Ok((config,))
    })?;

    host.func_wrap("get-config-value", |mut store: StoreContextMut<'_, StoreData>, (key,): (Key,)| {
        charge(&mut store, cost(key.read_len()))?;
        store.data_mut().host.glue_fuel += glue::GET_CONFIG_VALUE;
        if key.over_cap() {
            return Ok((None,));
        }
        let key = key.read(&store, "get-config-value", "config key")?;
        Ok((match dispatch(&mut store, (op::GET_CONFIG_VALUE, key, String::new(), None).into())? {
            Reply::Text(s) => {
                charge(&mut store, cost(s.len()))?;
                store.data_mut().host.glue_fuel += 1;
                Some(s)
            }
            _ => None,
        },))
    })?;

    host.func_wrap(
        "define-metric",
        |mut store: StoreContextMut<'_, StoreData>, (kind, name, help, labels): (GuestMetricKind, MetricName, MetricHelp, LabelNames)| {
            let kind = kind.check("define-metric")?;
            store.data_mut().host.glue_fuel += glue::DEFINE_METRIC;
            charge(&mut store, cost(name.read_len() + help.read_len() + labels.read_len()) + FUEL_PER_METRIC_DEFINED)?;
            // Refused unread: a name or label name over the bounds is no valid name; too many labels is over the limit.
            if name.over_cap() {
                return Ok((Err(MetricError::InvalidName),));
            }
            if labels.over_cap() {
                let too_many = matches!(labels, crate::abi::GuestStrList::TooMany(_));
                return Ok((Err(if too_many { MetricError::LimitReached } else { MetricError::InvalidName }),));
            }
            let name = name.read(&store, "define-metric", "metric name")?;
            let help = help.read_prefix(&store, "define-metric", "metric help")?;
            let mut packed = vec![kind];
            labels.pack("define-metric", "label names", &mut packed)?;
            let n = number(&mut store, (op::DEFINE_METRIC, name, help, Some(Uint8Array::from(packed))).into())?;
            Ok((if n >= 0.0 { Ok(n as u32) } else { Err(metric_error(n)) },))
        },
    )?;

    host.func_wrap("record-metric", |mut store: StoreContextMut<'_, StoreData>, (id, value, labels): (u32, f64, LabelValues)| {
        store.data_mut().host.glue_fuel += glue::RECORD_METRIC;
        charge(&mut store, cost(labels.read_len()))?;
        if labels.over_cap() {
            return Ok((Err(MetricError::InvalidLabels),));
        }
        let mut packed = Vec::with_capacity(12 + labels.read_len());
        packed.extend_from_slice(&id.to_le_bytes());
        packed.extend_from_slice(&value.to_le_bytes());
        labels.pack("record-metric", "label values", &mut packed)?;
        let n = number(&mut store, (op::RECORD_METRIC, String::new(), String::new(), Some(Uint8Array::from(packed))).into())?;
        Ok((if n >= 0.0 { Ok(()) } else { Err(metric_error(n)) },))
    })?;

    host.func_wrap(
        "request",
        |mut store: StoreContextMut<'_, StoreData>, (target, name, data, timeout_ms): (Target, Name, GuestBytes, u32)| {
            store.data_mut().host.glue_fuel += glue::REQUEST;
            // Refused unread (as on v8): an over-long name, or an empty or over-long target, is no valid
            // name; a payload over the bound is too large.
            // The guest's lengths, in bounds or not: an out-of-bounds argument that passes is an ABI error when read.
            let refused = if name.guest_len() > MAX_EVENT_NAME_BYTES || target.guest_len() == 0 || target.guest_len() > MAX_REQUEST_TARGET_BYTES {
                Some(RequestError::InvalidName)
            } else if data.guest_len() > store.data().host.max_message_bytes {
                Some(RequestError::TooLarge)
            } else {
                None
            };
            if let Some(refused) = refused {
                charge(&mut store, cost(0))?;
                return Ok((Err(refused),));
            }
            charge(&mut store, cost(target.len() + name.len() + data.len()) + FUEL_PER_MESSAGE)?;
            let target = target.read(&store, "request", "target")?;
            let name = name.read(&store, "request", "event name")?;
            match request_answer(&mut store, target, name, &data, timeout_ms)? {
                Ok(answer) if answer.len() > store.data().host.max_message_bytes => Ok((Err(RequestError::TooLarge),)),
                Ok(answer) => {
                    // Paid before it is copied into the guest (one cabi_realloc).
                    charge(&mut store, byte_fuel(answer.len()))?;
                    store.data_mut().host.glue_fuel += 1;
                    Ok((Ok(answer),))
                }
                Err(code) => Ok((Err(request_error(code)),)),
            }
        },
    )?;

    host.func_wrap("current-message", |mut store: StoreContextMut<'_, StoreData>, (): ()| {
        store.data_mut().host.glue_fuel += glue::CURRENT_MESSAGE;
        match dispatch(&mut store, (op::CURRENT_MESSAGE, String::new(), String::new(), None).into())? {
            Reply::Bytes(packed) => {
                let (info, reallocs, bytes) =
                    unpack_message(&packed).ok_or_else(|| HostCallFailed("the dispatcher packed a malformed message-info".into()))?;
                // Paid before it is copied into the guest.
                charge(&mut store, cost(bytes))?;
                store.data_mut().host.glue_fuel += reallocs;
                Ok((Some(info),))
            }
            _ => {
                charge(&mut store, cost(0))?;
                Ok((None,))
            }
        }
    })?;
    crate::state::add_to_linker(&mut host)
}
