//! The call ring: asynchronous status calls (`onEvent`) without a node-api
//! call, a promise's thread-safe function or a futex wake-up each.
//!
//! The ring is memory the addon allocates and hands to JS as an external
//! ArrayBuffer, so both threads see the same bytes. The JS side writes a
//! call into a slot (event name as an interned id, the bytes inline) and
//! bumps SUBMIT; the instance's call thread (`instance::serve`) runs the
//! slots in order, writes each status into its slot and bumps DONE. While
//! calls flow, neither side sleeps: the call thread spins for a while when
//! idle (only while the JS side says spinning pays: `SPIN_OK`, and never more
//! spinning call threads than cores), and the JS side spins briefly for
//! answers. The slow paths wake the other side: a parked call thread is
//! unparked by `ringWake()`, and a JS side that went back to its event loop
//! with calls in flight sets JS_WAITING, which the call thread clears and
//! answers with one thread-safe-function call for the whole batch.
//!
//! Both sides use sequentially consistent loads and stores for the header
//! words (JS `Atomics`), so a sleeper's flag and the other side's counter
//! cannot both be missed (a store then a load on each side).

use napi::bindgen_prelude::{Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{sys, Env, Status};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Header words (i32 indices; each on its own cache line).
pub const H_SUBMIT: usize = 0;
pub const H_DONE: usize = 16;
pub const H_PARKED: usize = 32;
pub const H_JS_WAITING: usize = 48;
pub const HEADER_BYTES: usize = 256;
/// Slots: a power of two, so that u32 sequence numbers wrap onto them.
pub const SLOTS: usize = 256;
pub const SLOT_BYTES: usize = 64;
/// Slot words: op, name id, data length, status (out), outcome (out); the data from byte 32.
const S_OP: usize = 0;
const S_NAME: usize = 1;
const S_LEN: usize = 2;
const S_STATUS: usize = 3;
const S_OUTCOME: usize = 4;
const S_DATA: usize = 32;
/// Bytes that fit in a slot; longer data goes through `stash`.
pub const INLINE: usize = SLOT_BYTES - S_DATA;
pub const BYTES: usize = HEADER_BYTES + SLOTS * SLOT_BYTES;
/// Ops: data inline, or the next stashed buffer.
#[allow(dead_code)] // written by the JS side (ring.ts)
pub const OP_INLINE: i32 = 0;
pub const OP_STASHED: i32 = 1;
/// Outcomes: the status is the answer, or a fault (its reason is the next of `errors`).
pub const OUT_STATUS: i32 = 0;
pub const OUT_FAULT: i32 = 1;

/// Whether idle call threads may spin (set by the JS side's pump: busy threads fit on the cores).
pub static SPIN_OK: AtomicBool = AtomicBool::new(true);
/// Call threads spinning right now; never more than the cores less one (the JS thread).
static SPINNERS: AtomicUsize = AtomicUsize::new(0);

fn max_spinners() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1).max(1))
}

/// A claim on one of the spinning places; released when dropped.
pub struct SpinClaim(());

impl SpinClaim {
    pub fn try_take() -> Option<SpinClaim> {
        if !SPIN_OK.load(Ordering::Relaxed) {
            return None;
        }
        let max = max_spinners();
        SPINNERS.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| (n < max).then_some(n + 1)).ok().map(|_| SpinClaim(()))
    }
}

impl Drop for SpinClaim {
    fn drop(&mut self) {
        SPINNERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The ring's bytes: an anonymous mapping of their own, so pages cost memory only once a slot on them is used
/// (an instance that makes a few calls touches two pages, not the whole ring).
pub struct RingMem {
    ptr: *mut u8,
}

// SAFETY: the bytes are shared with the JS thread by design; every access that
// orders the two sides goes through the atomic header words.
unsafe impl Send for RingMem {}
unsafe impl Sync for RingMem {}

#[cfg(unix)]
mod pages {
    use std::ffi::c_void;
    extern "C" {
        fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> i32;
    }
    const PROT_READ_WRITE: i32 = 0x1 | 0x2;
    const MAP_PRIVATE: i32 = 0x02;
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    const MAP_ANONYMOUS: i32 = 0x1000;
    #[cfg(not(any(target_os = "macos", target_os = "ios", target_os = "freebsd")))]
    const MAP_ANONYMOUS: i32 = 0x20;

    /// Zeroed pages (page-aligned), or null.
    pub fn map(len: usize) -> *mut u8 {
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let p = unsafe { mmap(std::ptr::null_mut(), len, PROT_READ_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) };
        if p as isize == -1 { std::ptr::null_mut() } else { p.cast() }
    }
    pub fn unmap(p: *mut u8, len: usize) {
        // SAFETY: `p` came from `map(len)` and is unmapped once.
        unsafe { munmap(p.cast(), len) };
    }
}

#[cfg(not(unix))]
mod pages {
    const LAYOUT: std::alloc::Layout = match std::alloc::Layout::from_size_align(super::BYTES, 64) {
        Ok(l) => l,
        Err(_) => panic!("ring layout"),
    };
    pub fn map(_len: usize) -> *mut u8 {
        // SAFETY: LAYOUT has a non-zero size.
        unsafe { std::alloc::alloc_zeroed(LAYOUT) }
    }
    pub fn unmap(p: *mut u8, _len: usize) {
        // SAFETY: allocated with LAYOUT in `map`.
        unsafe { std::alloc::dealloc(p, LAYOUT) }
    }
}

impl RingMem {
    fn new() -> Option<RingMem> {
        let ptr = pages::map(BYTES);
        (!ptr.is_null()).then_some(RingMem { ptr })
    }
    fn word(&self, i: usize) -> &AtomicI32 {
        debug_assert!(i * 4 + 4 <= BYTES);
        // SAFETY: in bounds, 4-aligned, and the memory lives as long as self.
        unsafe { &*(self.ptr.add(i * 4).cast::<AtomicI32>()) }
    }
    fn slot_word(&self, seq: u32, w: usize) -> &AtomicI32 {
        self.word((HEADER_BYTES + (seq as usize % SLOTS) * SLOT_BYTES) / 4 + w)
    }
    fn slot_data(&self, seq: u32, len: usize) -> &[u8] {
        let off = HEADER_BYTES + (seq as usize % SLOTS) * SLOT_BYTES + S_DATA;
        // SAFETY: len ≤ INLINE (checked by the caller), in bounds; the JS side does
        // not write a slot between submitting it and seeing it done.
        unsafe { std::slice::from_raw_parts(self.ptr.add(off), len) }
    }
}

impl Drop for RingMem {
    fn drop(&mut self) {
        pages::unmap(self.ptr, BYTES);
    }
}

pub type WakeTsfn = ThreadsafeFunction<(), Unknown<'static>, (), Status, false, true>;

/// One instance's ring, shared by the JS object and the call thread.
pub struct Ring {
    mem: Arc<RingMem>,
    /// Interned event names, by id (only ever appended).
    names: Mutex<Vec<Arc<str>>>,
    /// Data too long for a slot, in submission order.
    stash: Mutex<VecDeque<Vec<u8>>>,
    /// Fault reasons (`PWT:…`) of calls answered OUT_FAULT, in completion order.
    errors: Mutex<VecDeque<String>>,
    /// Wakes the JS side's pump (weak unless the JS side has calls in flight and sleeps).
    wake: Mutex<WakeTsfn>,
}

/// One call taken off the ring by the call thread.
pub struct RingCall {
    pub seq: u32,
    pub name: Arc<str>,
    pub data: Vec<u8>,
}

/// Most names an instance interns; past it the JS side uses the promise path.
pub const MAX_NAMES: usize = 1024;

impl Ring {
    /// A ring and the ArrayBuffer over its bytes.
    pub fn create(env: &Env, wake: Function<(), Unknown<'static>>) -> napi::Result<(Ring, sys::napi_value)> {
        let mem = Arc::new(RingMem::new().ok_or_else(|| napi::Error::from_reason("PWT:load:0:out of memory for the call ring"))?);
        let wake = wake.build_threadsafe_function::<()>().weak::<true>().callee_handled::<false>().build()?;
        let hint = Box::into_raw(Box::new(mem.clone()));
        let mut buf = std::ptr::null_mut();
        // SAFETY: the buffer's finalizer drops the Arc clone that keeps the bytes alive.
        let st = unsafe { sys::napi_create_external_arraybuffer(env.raw(), mem.ptr.cast(), BYTES, Some(finalize), hint.cast(), &mut buf) };
        if st != sys::Status::napi_ok {
            // SAFETY: not handed to node.
            drop(unsafe { Box::from_raw(hint) });
            return Err(napi::Error::from_reason("PWT:load:0:could not create the call ring's buffer"));
        }
        let ring = Ring {
            mem,
            names: Mutex::new(Vec::new()), stash: Mutex::new(VecDeque::new()), errors: Mutex::new(VecDeque::new()),
            wake: Mutex::new(wake),
        };
        Ok((ring, buf))
    }

    pub fn intern(&self, name: String) -> i32 {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= MAX_NAMES {
            return -1;
        }
        names.push(name.into());
        (names.len() - 1) as i32
    }

    pub fn stash(&self, data: Vec<u8>) {
        self.stash.lock().unwrap_or_else(|e| e.into_inner()).push_back(data);
    }

    pub fn take_error(&self) -> Option<String> {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    /// Keep the event loop alive while the JS side waits for answers (or not).
    #[allow(deprecated)] // napi_ref/unref_threadsafe_function: exactly what is wanted here
    pub fn refer(&self, env: &Env, on: bool) -> napi::Result<()> {
        let mut w = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        if on { w.refer(env) } else { w.unref(env) }
    }

    pub fn submitted(&self) -> u32 {
        self.mem.word(H_SUBMIT).load(Ordering::SeqCst) as u32
    }

    pub fn set_parked(&self, parked: bool) {
        self.mem.word(H_PARKED).store(i32::from(parked), Ordering::SeqCst);
    }

    /// The call `seq` (submitted): its name and data. `cache` holds the names seen so far.
    pub fn take(&self, seq: u32, cache: &mut Vec<Arc<str>>) -> RingCall {
        let op = self.mem.slot_word(seq, S_OP).load(Ordering::Relaxed);
        let id = self.mem.slot_word(seq, S_NAME).load(Ordering::Relaxed);
        let id = usize::try_from(id).unwrap_or(usize::MAX);
        if id >= cache.len() {
            let names = self.names.lock().unwrap_or_else(|e| e.into_inner());
            cache.extend(names[cache.len()..].iter().cloned());
        }
        let name = cache.get(id).cloned().unwrap_or_else(|| Arc::from(""));
        let data = if op == OP_STASHED {
            self.stash.lock().unwrap_or_else(|e| e.into_inner()).pop_front().unwrap_or_default()
        } else {
            let len = (self.mem.slot_word(seq, S_LEN).load(Ordering::Relaxed).max(0) as usize).min(INLINE);
            self.mem.slot_data(seq, len).to_vec()
        };
        RingCall { seq, name, data }
    }

    /// Answer call `seq` and publish it; wake the JS side when it sleeps.
    pub fn complete(&self, seq: u32, result: Result<i32, String>) {
        match result {
            Ok(status) => {
                self.mem.slot_word(seq, S_STATUS).store(status, Ordering::Relaxed);
                self.mem.slot_word(seq, S_OUTCOME).store(OUT_STATUS, Ordering::Relaxed);
            }
            Err(reason) => {
                self.errors.lock().unwrap_or_else(|e| e.into_inner()).push_back(reason);
                self.mem.slot_word(seq, S_OUTCOME).store(OUT_FAULT, Ordering::Relaxed);
            }
        }
        self.mem.word(H_DONE).store(seq.wrapping_add(1) as i32, Ordering::SeqCst);
        if self.mem.word(H_JS_WAITING).load(Ordering::SeqCst) != 0 && self.mem.word(H_JS_WAITING).swap(0, Ordering::SeqCst) != 0 {
            let _ = self.wake.lock().unwrap_or_else(|e| e.into_inner()).call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, _data: *mut std::ffi::c_void, hint: *mut std::ffi::c_void) {
    drop(Box::from_raw(hint.cast::<Arc<RingMem>>()));
}
