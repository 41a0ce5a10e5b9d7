//! The synchronous status call as a bare node-api function.
//!
//! `#[napi]` class methods pay for class-identity checks and argument
//! conversion (an owned `String` per call); on the hot path that costs more
//! than the wasm call itself. This function is created per instance with
//! `napi_create_function`, carries its instance as callback data, reads the
//! event name into a stack buffer and the bytes in place, and allocates
//! nothing on the Rust side.

use crate::calls::{Live, StateCell};
use crate::instance::StateArray;
use crate::fault::Fault;
use crate::host::Route;
use napi::sys;
use std::ffi::{c_void, CString};
use std::ptr;
use std::sync::{Arc, Mutex, TryLockError};

pub struct Bound {
    pub live: Arc<Mutex<Option<Live>>>,
    pub state: Arc<StateArray>,
}

/// `(eventName: string, data: Uint8Array) => number`, bound to one instance.
pub fn create(env: sys::napi_env, bound: Bound) -> napi::Result<sys::napi_value> {
    let data = Box::into_raw(Box::new(bound)).cast::<c_void>();
    let mut f = ptr::null_mut();
    let name = c"onEventSync";
    unsafe {
        let st = sys::napi_create_function(env, name.as_ptr(), name.to_bytes().len() as isize, Some(call), data, &mut f);
        if st != sys::Status::napi_ok {
            drop(Box::from_raw(data.cast::<Bound>()));
            return Err(napi::Error::from_reason("PWT:load:0:napi_create_function failed"));
        }
        let st = sys::napi_add_finalizer(env, f, data, Some(finalize), ptr::null_mut(), ptr::null_mut());
        if st != sys::Status::napi_ok {
            drop(Box::from_raw(data.cast::<Bound>()));
            return Err(napi::Error::from_reason("PWT:load:0:napi_add_finalizer failed"));
        }
    }
    Ok(f)
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(Box::from_raw(data.cast::<Bound>()));
}

unsafe fn throw(env: sys::napi_env, message: &str) -> sys::napi_value {
    let msg = CString::new(message.replace('\0', " ")).unwrap_or_default();
    sys::napi_throw_error(env, ptr::null(), msg.as_ptr());
    ptr::null_mut()
}

const NAME_BUF: usize = 256;

unsafe extern "C" fn call(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    let mut data = ptr::null_mut();
    if sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) != sys::Status::napi_ok || argc < 2 {
        return throw(env, "PWT:abi:0:onEventSync(eventName, data) needs two arguments");
    }
    let bound = &*data.cast::<Bound>();

    // The event name: a stack buffer covers every valid name (≤ 128 bytes).
    let mut buf = [0u8; NAME_BUF];
    let mut heap: Vec<u8>;
    let mut len = 0usize;
    if sys::napi_get_value_string_utf8(env, argv[0], buf.as_mut_ptr().cast(), NAME_BUF, &mut len) != sys::Status::napi_ok {
        return throw(env, "PWT:abi:0:eventName must be a string");
    }
    let name_bytes: &[u8] = if len < NAME_BUF - 1 {
        &buf[..len]
    } else {
        let mut full = 0usize;
        sys::napi_get_value_string_utf8(env, argv[0], ptr::null_mut(), 0, &mut full);
        heap = vec![0u8; full + 1];
        sys::napi_get_value_string_utf8(env, argv[0], heap.as_mut_ptr().cast(), full + 1, &mut len);
        &heap[..len]
    };
    // napi hands out valid UTF-8 (lone surrogates become U+FFFD).
    let name = std::str::from_utf8_unchecked(name_bytes);

    let mut kind = 0;
    let mut dlen = 0usize;
    let mut dptr = ptr::null_mut();
    if sys::napi_get_typedarray_info(env, argv[1], &mut kind, &mut dlen, &mut dptr, ptr::null_mut(), ptr::null_mut()) != sys::Status::napi_ok
        || kind != sys::TypedarrayType::uint8_array
    {
        return throw(env, "PWT:abi:0:data must be a Uint8Array");
    }
    // The bytes stay valid for the call: the guest cannot reach JS memory,
    // and a host function that detached the buffer would first have to
    // re-enter this instance, which is refused.
    let bytes: &[u8] = if dlen == 0 { &[] } else { std::slice::from_raw_parts(dptr.cast::<u8>(), dlen) };

    let result = match bound.live.try_lock() {
        Err(TryLockError::WouldBlock) => Err(Fault::Busy),
        Ok(mut g) => run(&mut g, env, bound.state.cell, name, bytes),
        Err(TryLockError::Poisoned(p)) => run(&mut p.into_inner(), env, bound.state.cell, name, bytes),
    };
    match result {
        Ok(status) => {
            let mut out = ptr::null_mut();
            sys::napi_create_int32(env, status, &mut out);
            out
        }
        Err(fault) => throw(env, &fault.to_napi().reason),
    }
}

fn run(live: &mut Option<Live>, env: sys::napi_env, state: StateCell, name: &str, data: &[u8]) -> Result<i32, Fault> {
    let live = live.as_mut().ok_or(Fault::Disposed)?;
    live.run("on-event", Route::Direct(env), state, |store, plugin, _| {
        plugin.expect("instantiated").plughost_plugin_guest().call_on_event(store, name, data)
    })
}
