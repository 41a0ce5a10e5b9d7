//! The `state-*` and `context-*` host functions (wit/plugin.wit), linked into
//! `plughost:plugin/host` beside the others (`host.rs`), and answered by the
//! JS dispatcher's ops 10-18 (`src/engines/wasmtime/host.ts`).
//!
//! As on v8, bounds are judged before anything is read: a key that is empty or
//! longer than 256 bytes is `invalid-key`, a value over 1 MiB is `too-large`,
//! a context key that is empty or over 64 bytes is `unknown-key`, a context
//! value over 1 MiB is `invalid-value`. Each call is paid for like an emit:
//! 1,000 units of fuel plus 1 per 64 bytes copied in, before the host works;
//! what comes back pays 1 per 64 bytes before it is copied into the guest.
//!
//! A `HostCalls` member the host does not have is `denied` before anything
//! else, for 1 unit (the addon is told which it has at instantiation). The
//! dispatcher answers a refusal as `-1 - code` (the WIT enum's code), and a
//! member that throws as `unavailable` (state) or `denied` (context), so a
//! broken host never faults the guest.

use crate::abi::{ContextKey, GuestBytes, LazyStr, StateKey, MAX_CONTEXT_VALUE_BYTES};
use crate::contract;
use crate::host::{byte_fuel, charge, cost, dispatch, op, ContextError, HostCallFailed, KeyPage, Reply, StateError};
use crate::store::StoreData;
use napi::bindgen_prelude::Uint8Array;
use wasmtime::component::LinkerInstance;
use wasmtime::StoreContextMut;

/// Longest state key in bytes (WIT `state-error.invalid-key`).
pub const MAX_STATE_KEY_BYTES: usize = 256;
/// Largest state value in bytes (WIT `state-error.too-large`; the host may refuse smaller ones).
pub const MAX_STATE_VALUE_BYTES: usize = 1 << 20;
/// Fuel per state or context operation, as per message queued (`host::FUEL_PER_MESSAGE`).
pub const FUEL_PER_STATE_OP: u64 = 1000;

/// wit-component's import glue per call (see `host::glue`): core parameters + 1; + 1 per value lowered through
/// `cabi_realloc`.
mod glue {
    pub const STATE_GET: u64 = 3 + 1; // ptr, len, ret
    pub const STATE_SET: u64 = 5 + 1; // 2 × (ptr, len), ret
    pub const STATE_DELETE: u64 = 3 + 1;
    pub const STATE_EXISTS: u64 = 3 + 1;
    pub const STATE_LIST_KEYS: u64 = 5 + 1; // option tag, ptr, len, limit, ret
    pub const STATE_INCREMENT: u64 = 4 + 1; // ptr, len, delta, ret
    pub const STATE_COMPARE_AND_SWAP: u64 = 8 + 1; // ptr, len, option tag, ptr, len, ptr, len, ret
    pub const CONTEXT_GET: u64 = 3 + 1;
    pub const CONTEXT_SET: u64 = 5 + 1;
}

/// The WIT case of a refusal the dispatcher answered (-1 - code); an unknown code is `unavailable`.
fn state_error(status: f64) -> StateError {
    use contract::state_error as s;
    match u32::try_from(-1 - status as i64).ok() {
        Some(s::DENIED) => StateError::Denied,
        Some(s::INVALID_KEY) => StateError::InvalidKey,
        Some(s::TOO_LARGE) => StateError::TooLarge,
        Some(s::QUOTA_EXCEEDED) => StateError::QuotaExceeded,
        Some(s::NOT_AN_INTEGER) => StateError::NotAnInteger,
        _ => StateError::Unavailable,
    }
}

/// The WIT case of a refused context call (-1 - code); an unknown code is `denied`.
fn context_error(status: f64) -> ContextError {
    use contract::context_error as c;
    match u32::try_from(-1 - status as i64).ok() {
        Some(c::UNKNOWN_KEY) => ContextError::UnknownKey,
        Some(c::INVALID_VALUE) => ContextError::InvalidValue,
        Some(c::READ_ONLY) => ContextError::ReadOnly,
        _ => ContextError::Denied,
    }
}

/// `invalid-key` for an empty or over-long key (judged by the guest's length, before anything is read).
fn bad_key(key: &StateKey) -> bool {
    key.guest_len() == 0 || key.guest_len() > MAX_STATE_KEY_BYTES
}

/// Whether the host has the member that answers dispatcher op `code` (see `HostBridge::state_members`).
fn has_member(store: &StoreContextMut<'_, StoreData>, code: u32) -> bool {
    store.data().host.state_members & (1 << (code - op::STATE_GET)) != 0
}

/// Refuse without reading: the call costs 1 unit, as a refused emit.
fn refuse<T>(store: &mut StoreContextMut<'_, StoreData>, error: StateError) -> wasmtime::Result<(Result<T, StateError>,)> {
    charge(store, cost(0))?;
    Ok((Err(error),))
}

fn glue(store: &mut StoreContextMut<'_, StoreData>, units: u64) {
    store.data_mut().host.glue_fuel += units;
}

/// The dispatcher's answer to a call that answers a number: a refusal (< 0) or the number.
fn status(reply: Reply, function: &str) -> wasmtime::Result<Result<f64, f64>> {
    match reply {
        Reply::Number(n) if n < 0.0 => Ok(Err(n)),
        Reply::Number(n) => Ok(Ok(n)),
        _ => Err(HostCallFailed(format!("the dispatcher answered {function} with a string or bytes")).into()),
    }
}

/// The refusal in an answer that carries no value where one was due (a number that is no refusal is `unavailable`).
fn refusal(reply: Reply, function: &str) -> wasmtime::Result<StateError> {
    Ok(status(reply, function)?.err().map_or(StateError::Unavailable, state_error))
}

/// A `key-page` as the dispatcher packs it (`src/engines/wasmtime/host.ts`, `packKeyPage`):
/// [flags u8: 1 cursor][u32 key count], then [u32 length][UTF-8] strings: the cursor (when present), then each key.
/// With its bytes (what the guest is paid for) and the number of `cabi_realloc` calls lowering it makes.
fn unpack_key_page(b: &[u8]) -> Option<(KeyPage, usize, u64)> {
    let flags = *b.first()?;
    let count = u32::from_le_bytes(b.get(1..5)?.try_into().ok()?) as usize;
    // Each string takes at least its 4-byte length: the count cannot claim more than the bytes hold.
    if count > b.len() / 4 {
        return None;
    }
    let mut at = 5;
    let mut bytes = 0usize;
    let mut next = || -> Option<String> {
        let len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 4..at.checked_add(4 + len)?)?).ok()?.to_owned();
        at += 4 + len;
        bytes += len;
        Some(s)
    };
    let cursor = if flags & 1 != 0 { Some(next()?) } else { None };
    let mut keys = Vec::with_capacity(count);
    for _ in 0..count {
        keys.push(next()?);
    }
    drop(next);
    // The list's (ptr, len) pairs are copied too: 8 bytes each.
    bytes += 8 * count;
    let reallocs = 1 + count as u64 + u64::from(cursor.is_some());
    Some((KeyPage { keys, cursor }, bytes, reallocs))
}

/// Link the nine functions into the `host` instance.
pub fn add_to_linker(host: &mut LinkerInstance<'_, StoreData>) -> wasmtime::Result<()> {
    host.func_wrap("state-get", |mut store: StoreContextMut<'_, StoreData>, (key,): (StateKey,)| {
        glue(&mut store, glue::STATE_GET);
        if !has_member(&store, op::STATE_GET) {
            return refuse(&mut store, StateError::Denied);
        }
        if bad_key(&key) {
            return refuse(&mut store, StateError::InvalidKey);
        }
        charge(&mut store, cost(key.len()) + FUEL_PER_STATE_OP)?;
        let key = key.read(&store, "state-get", "key")?;
        Ok((match dispatch(&mut store, (op::STATE_GET, key, String::new(), None).into())? {
            Reply::Bytes(value) => {
                // Paid before it is copied into the guest (one cabi_realloc).
                charge(&mut store, byte_fuel(value.len()))?;
                glue(&mut store, 1);
                Ok(Some(value))
            }
            reply => status(reply, "state-get")?.map(|_| None).map_err(state_error),
        },))
    })?;

    host.func_wrap("state-set", |mut store: StoreContextMut<'_, StoreData>, (key, value): (StateKey, GuestBytes)| {
        glue(&mut store, glue::STATE_SET);
        if !has_member(&store, op::STATE_SET) {
            return refuse(&mut store, StateError::Denied);
        }
        if bad_key(&key) {
            return refuse(&mut store, StateError::InvalidKey);
        }
        if value.guest_len() > MAX_STATE_VALUE_BYTES {
            return refuse(&mut store, StateError::TooLarge);
        }
        charge(&mut store, cost(key.len() + value.len()) + FUEL_PER_STATE_OP)?;
        let key = key.read(&store, "state-set", "key")?;
        let value = value.read(&store, "state-set", "value")?;
        let reply = dispatch(&mut store, (op::STATE_SET, key, String::new(), Some(value)).into())?;
        Ok((status(reply, "state-set")?.map(|_| ()).map_err(state_error),))
    })?;

    for (name, code, units) in [("state-delete", op::STATE_DELETE, glue::STATE_DELETE), ("state-exists", op::STATE_EXISTS, glue::STATE_EXISTS)] {
        host.func_wrap(name, move |mut store: StoreContextMut<'_, StoreData>, (key,): (StateKey,)| {
            glue(&mut store, units);
            if !has_member(&store, code) {
                return refuse(&mut store, StateError::Denied);
            }
            if bad_key(&key) {
                return refuse(&mut store, StateError::InvalidKey);
            }
            charge(&mut store, cost(key.len()) + FUEL_PER_STATE_OP)?;
            let key = key.read(&store, name, "key")?;
            let reply = dispatch(&mut store, (code, key, String::new(), None).into())?;
            Ok((status(reply, name)?.map(|n| n != 0.0).map_err(state_error),))
        })?;
    }

    host.func_wrap("state-list-keys", |mut store: StoreContextMut<'_, StoreData>, (cursor, limit): (Option<StateKey>, u32)| {
        glue(&mut store, glue::STATE_LIST_KEYS);
        if !has_member(&store, op::STATE_LIST_KEYS) {
            return refuse(&mut store, StateError::Denied);
        }
        // A cursor is the last key of a page: longer than a key is none of ours.
        if cursor.as_ref().is_some_and(|c| c.guest_len() > MAX_STATE_KEY_BYTES) {
            return refuse(&mut store, StateError::InvalidKey);
        }
        charge(&mut store, cost(cursor.as_ref().map_or(0, |c| c.len())) + FUEL_PER_STATE_OP)?;
        // data: [limit u32][has cursor u8]; a: the cursor.
        let mut data = limit.to_le_bytes().to_vec();
        data.push(u8::from(cursor.is_some()));
        let cursor = match &cursor {
            Some(c) => c.read(&store, "state-list-keys", "cursor")?,
            None => String::new(),
        };
        Ok((match dispatch(&mut store, (op::STATE_LIST_KEYS, cursor, String::new(), Some(Uint8Array::from(data))).into())? {
            Reply::Bytes(packed) => {
                let (page, bytes, reallocs) =
                    unpack_key_page(&packed).ok_or_else(|| HostCallFailed("the dispatcher packed a malformed key-page".into()))?;
                // Paid before it is copied into the guest.
                charge(&mut store, byte_fuel(bytes))?;
                glue(&mut store, reallocs);
                Ok(page)
            }
            reply => Err(refusal(reply, "state-list-keys")?),
        },))
    })?;

    host.func_wrap("state-increment", |mut store: StoreContextMut<'_, StoreData>, (key, delta): (StateKey, i64)| {
        glue(&mut store, glue::STATE_INCREMENT);
        if !has_member(&store, op::STATE_INCREMENT) {
            return refuse(&mut store, StateError::Denied);
        }
        if bad_key(&key) {
            return refuse(&mut store, StateError::InvalidKey);
        }
        charge(&mut store, cost(key.len()) + FUEL_PER_STATE_OP)?;
        let key = key.read(&store, "state-increment", "key")?;
        // An s64 does not fit a JS number: both ways as decimal text.
        Ok((match dispatch(&mut store, (op::STATE_INCREMENT, key, delta.to_string(), None).into())? {
            Reply::Text(sum) => sum.parse::<i64>().map_err(|_| StateError::NotAnInteger),
            reply => Err(refusal(reply, "state-increment")?),
        },))
    })?;

    host.func_wrap(
        "state-compare-and-swap",
        |mut store: StoreContextMut<'_, StoreData>, (key, expected, value): (StateKey, Option<GuestBytes>, GuestBytes)| {
            glue(&mut store, glue::STATE_COMPARE_AND_SWAP);
            if !has_member(&store, op::STATE_COMPARE_AND_SWAP) {
                return refuse(&mut store, StateError::Denied);
            }
            if bad_key(&key) {
                return refuse(&mut store, StateError::InvalidKey);
            }
            // No stored value is over the bound, so an `expected` over it could never match: refused the same.
            if value.guest_len() > MAX_STATE_VALUE_BYTES || expected.as_ref().is_some_and(|e| e.guest_len() > MAX_STATE_VALUE_BYTES) {
                return refuse(&mut store, StateError::TooLarge);
            }
            let expected_len = expected.as_ref().map_or(0, |e| e.len());
            charge(&mut store, cost(key.len() + expected_len + value.len()) + FUEL_PER_STATE_OP)?;
            let key = key.read(&store, "state-compare-and-swap", "key")?;
            // data: [has expected u8][expected length u32][expected][value].
            let mut data = Vec::with_capacity(5 + expected_len + value.len());
            data.push(u8::from(expected.is_some()));
            data.extend_from_slice(&(expected_len as u32).to_le_bytes());
            if let Some(e) = &expected {
                e.append_to(&store, &mut data, "state-compare-and-swap", "expected value")?;
            }
            value.append_to(&store, &mut data, "state-compare-and-swap", "value")?;
            let reply = dispatch(&mut store, (op::STATE_COMPARE_AND_SWAP, key, String::new(), Some(Uint8Array::from(data))).into())?;
            Ok((status(reply, "state-compare-and-swap")?.map(|n| n != 0.0).map_err(state_error),))
        },
    )?;

    host.func_wrap("context-get", |mut store: StoreContextMut<'_, StoreData>, (key,): (ContextKey,)| {
        glue(&mut store, glue::CONTEXT_GET);
        let refused = if !has_member(&store, op::CONTEXT_GET) {
            Some(ContextError::Denied)
        } else if key.guest_len() == 0 || key.over_cap() {
            Some(ContextError::UnknownKey)
        } else {
            None
        };
        if let Some(error) = refused {
            charge(&mut store, cost(0))?;
            return Ok((Err(error),));
        }
        charge(&mut store, cost(key.len()) + FUEL_PER_STATE_OP)?;
        let key = key.read(&store, "context-get", "key")?;
        Ok((match dispatch(&mut store, (op::CONTEXT_GET, key, String::new(), None).into())? {
            Reply::Text(json) => {
                // Paid before it is copied into the guest (one cabi_realloc).
                charge(&mut store, byte_fuel(json.len()))?;
                glue(&mut store, 1);
                Ok(Some(json))
            }
            reply => status(reply, "context-get")?.map(|_| None).map_err(context_error),
        },))
    })?;

    host.func_wrap("context-set", |mut store: StoreContextMut<'_, StoreData>, (key, value): (ContextKey, LazyStr)| {
        glue(&mut store, glue::CONTEXT_SET);
        let refused = if !has_member(&store, op::CONTEXT_SET) {
            Some(ContextError::Denied)
        } else if key.guest_len() == 0 || key.over_cap() {
            Some(ContextError::UnknownKey)
        } else if value.guest_len() > MAX_CONTEXT_VALUE_BYTES {
            Some(ContextError::InvalidValue)
        } else {
            None
        };
        if let Some(error) = refused {
            charge(&mut store, cost(0))?;
            return Ok((Err(error),));
        }
        charge(&mut store, cost(key.len() + value.guest_len()) + FUEL_PER_STATE_OP)?;
        let key = key.read(&store, "context-set", "key")?;
        let value = value.read(&store, "context-set", "value")?;
        let reply = dispatch(&mut store, (op::CONTEXT_SET, key, value, None).into())?;
        Ok((status(reply, "context-set")?.map(|_| ()).map_err(context_error),))
    })?;
    Ok(())
}
