//! Argument types for the host functions that lift what the guest passed
//! without judging it, so the host function can say what was wrong.
//!
//! wasmtime's own lifting rejects a bad argument before the host function
//! runs, with a message that names neither the function nor the argument
//! ("string pointer/length out of bounds of memory", "unexpected
//! discriminant: 9"). These types type-check exactly like `string`,
//! `list<u8>` and `log-level`, but an out-of-bounds pointer or an unknown
//! case is kept as data; `read`/`check` then fail with a `GuestAbi` error
//! that reads like the v8 engine's (`src/engines/guest-memory.ts`).

use crate::store::StoreData;
use wasmtime::component::__internal::wasmtime_environ::component::StringEncoding;
use wasmtime::component::__internal::{typecheck_enum, CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext};
use wasmtime::component::{ComponentType, Lift, WasmList, WasmStr};
use wasmtime::{StoreContextMut, ValRaw};

/// The guest broke the canonical ABI in a host call; the text says how.
#[derive(Debug)]
pub struct GuestAbi(pub String);

impl std::fmt::Display for GuestAbi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for GuestAbi {}

fn abi(function: &str, what: String) -> wasmtime::Error {
    GuestAbi(format!("{function}: {what}")).into()
}

/// A `[ptr, ptr + len)` range that does not fit in the guest's memory.
#[derive(Clone, Copy, Debug)]
pub struct OutOfBounds {
    ptr: u32,
    len: u32,
    memory: usize,
}

impl OutOfBounds {
    fn check(cx: &LiftContext<'_>, ptr: u32, len: u32) -> Option<OutOfBounds> {
        let memory = cx.memory().len();
        // `len` is a byte count for UTF-8 and lists of bytes, and a lower bound otherwise.
        match (ptr as usize).checked_add(len as usize) {
            Some(end) if end <= memory => None,
            _ => Some(OutOfBounds { ptr, len, memory }),
        }
    }

    fn error(&self, function: &str, what: &str) -> wasmtime::Error {
        let end = u64::from(self.ptr) + u64::from(self.len);
        abi(function, format!("{what} [{}, {end}) is outside the guest's {}-byte memory", self.ptr, self.memory))
    }
}

fn pair_from_memory(bytes: &[u8]) -> (u32, u32) {
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (word(0), word(4))
}

/// A `string` argument of which at most `CAP` bytes are ever read: the host
/// call refuses or truncates a longer one, so its work is bounded whatever
/// the guest passes. The bytes are copied while lifting (at most `CAP`, after
/// the bounds check); the host function charges for them before using them.
pub enum GuestStr<const CAP: usize> {
    /// UTF-8 (the canonical options of every plughost guest): the first `CAP`
    /// bytes, not yet validated, and the full length.
    Utf8(Vec<u8>, u32),
    /// Another string encoding: wasmtime decodes it (whole).
    Other(WasmStr, u32),
    OutOfBounds(OutOfBounds),
}

/// An event name: longer than 128 bytes is refused unread (`event-names.ts`).
pub type Name = GuestStr<{ 128 + 1 }>;
/// A `send` target: longer than 1,024 bytes is no plugin's name.
pub type Target = GuestStr<{ 1024 + 1 }>;
/// A config key: longer than 64 KiB is no key of a manifest's config.
pub type Key = GuestStr<{ 64 * 1024 + 1 }>;
/// A log message: read up to the default cap of the host's log line (4,096
/// characters of at most 4 bytes); the rest is never read.
pub type LogText = GuestStr<{ 4096 * 4 }>;
/// A metric name: longer than 64 bytes is refused unread.
pub type MetricName = GuestStr<64>;
/// A metric's help text: read up to 1,024 bytes; the rest is never read (the host truncates it).
pub type MetricHelp = GuestStr<1024>;
/// A state key (or a `state-list-keys` cursor, which is the last key of a page): 1 to 256 bytes; an empty or
/// longer one is `invalid-key`, unread.
pub type StateKey = GuestStr<256>;
/// A context key: a dotted name of at most 64 bytes; a longer one is no key (`unknown-key`), unread.
pub type ContextKey = GuestStr<64>;
/// Longest context value (JSON) read, as one state value: a longer one is `invalid-value`, unread.
pub const MAX_CONTEXT_VALUE_BYTES: usize = 1 << 20;

impl<const CAP: usize> GuestStr<CAP> {
    fn lift(cx: &mut LiftContext<'_>, ptr: u32, len: u32, whole: impl FnOnce(&mut LiftContext<'_>) -> wasmtime::Result<WasmStr>) -> wasmtime::Result<Self> {
        if let Some(oob) = OutOfBounds::check(cx, ptr, len) {
            return Ok(GuestStr::OutOfBounds(oob));
        }
        if cx.options().string_encoding != StringEncoding::Utf8 {
            return whole(cx).map(|s| GuestStr::Other(s, len));
        }
        let n = (len as usize).min(CAP);
        Ok(GuestStr::Utf8(cx.memory()[ptr as usize..][..n].to_vec(), len))
    }

    /// The guest's length in bytes (0 when out of bounds).
    pub fn len(&self) -> usize {
        match self {
            GuestStr::Utf8(_, len) | GuestStr::Other(_, len) => *len as usize,
            GuestStr::OutOfBounds(_) => 0,
        }
    }

    /// The length the guest gave, in bounds or not (to refuse an over-long string unread, as v8 does).
    pub fn guest_len(&self) -> usize {
        match self {
            GuestStr::Utf8(_, len) | GuestStr::Other(_, len) => *len as usize,
            GuestStr::OutOfBounds(oob) => oob.len as usize,
        }
    }

    /// True when the string is longer than `CAP` (and was not read whole).
    pub fn over_cap(&self) -> bool {
        self.len() > CAP
    }

    /// Bytes read from the guest (what the host pays to copy).
    pub fn read_len(&self) -> usize {
        self.len().min(CAP)
    }

    /// The whole string, or an ABI error naming `function` and the argument
    /// (`what`). Call only when it is not over the cap.
    pub fn read(&self, store: &StoreContextMut<'_, StoreData>, function: &str, what: &str) -> wasmtime::Result<String> {
        let invalid = || abi(function, format!("{what} is not valid UTF-8"));
        match self {
            GuestStr::OutOfBounds(oob) => Err(oob.error(function, what)),
            GuestStr::Utf8(bytes, _) => String::from_utf8(bytes.clone()).map_err(|_| invalid()),
            GuestStr::Other(s, _) => s.to_str(store).map(|t| t.into_owned()).map_err(|_| invalid()),
        }
    }

    /// Up to `CAP` bytes of the string: whole when it fits (and must be
    /// valid UTF-8), else its first `CAP` bytes cut back to a character
    /// boundary and decoded leniently (the rest was never read).
    pub fn read_prefix(&self, store: &StoreContextMut<'_, StoreData>, function: &str, what: &str) -> wasmtime::Result<String> {
        match self {
            GuestStr::Utf8(bytes, len) if *len as usize > CAP => Ok(String::from_utf8_lossy(&bytes[..cut_to_char(bytes)]).into_owned()),
            _ => self.read(store, function, what),
        }
    }
}

fn is_char_start(b: u8) -> bool {
    b & 0xc0 != 0x80
}

/// Length of the longest prefix of `bytes` that does not end inside a UTF-8 character.
fn cut_to_char(bytes: &[u8]) -> usize {
    // Find the last character's lead byte; keep that character only if all of it is there.
    let Some(lead) = bytes.iter().rposition(|&b| is_char_start(b)) else { return bytes.len() };
    let need = match bytes[lead] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    };
    if bytes.len() - lead >= need {
        bytes.len()
    } else {
        lead
    }
}

unsafe impl<const CAP: usize> ComponentType for GuestStr<CAP> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmStr as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl<const CAP: usize> Lift for GuestStr<CAP> {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        GuestStr::lift(cx, src[0].get_u32(), src[1].get_u32(), |cx| WasmStr::linear_lift_from_flat(cx, ty, src))
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_memory(bytes);
        GuestStr::lift(cx, ptr, len, |cx| WasmStr::linear_lift_from_memory(cx, ty, bytes))
    }
}

/// A `string` argument read only when the host function asks for it (a long
/// one that is refused by its length is never copied): in bounds, or where it
/// lies outside memory.
pub enum LazyStr {
    Ok(WasmStr, u32),
    OutOfBounds(OutOfBounds),
}

impl LazyStr {
    /// The length the guest gave, in bounds or not.
    pub fn guest_len(&self) -> usize {
        match self {
            LazyStr::Ok(_, len) => *len as usize,
            LazyStr::OutOfBounds(oob) => oob.len as usize,
        }
    }

    /// A copy of the string, or an ABI error naming `function` and the argument (`what`).
    pub fn read(&self, store: &StoreContextMut<'_, StoreData>, function: &str, what: &str) -> wasmtime::Result<String> {
        match self {
            LazyStr::OutOfBounds(oob) => Err(oob.error(function, what)),
            LazyStr::Ok(s, _) => s.to_str(store).map(|t| t.into_owned()).map_err(|_| abi(function, format!("{what} is not valid UTF-8"))),
        }
    }
}

unsafe impl ComponentType for LazyStr {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmStr as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl Lift for LazyStr {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        let (ptr, len) = (src[0].get_u32(), src[1].get_u32());
        match OutOfBounds::check(cx, ptr, len) {
            Some(oob) => Ok(LazyStr::OutOfBounds(oob)),
            None => WasmStr::linear_lift_from_flat(cx, ty, src).map(|s| LazyStr::Ok(s, len)),
        }
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_memory(bytes);
        match OutOfBounds::check(cx, ptr, len) {
            Some(oob) => Ok(LazyStr::OutOfBounds(oob)),
            None => WasmStr::linear_lift_from_memory(cx, ty, bytes).map(|s| LazyStr::Ok(s, len)),
        }
    }
}

/// A `list<u8>` argument.
pub enum GuestBytes {
    Ok(WasmList<u8>),
    OutOfBounds(OutOfBounds),
}

impl GuestBytes {
    pub fn len(&self) -> usize {
        match self {
            GuestBytes::Ok(l) => l.len(),
            GuestBytes::OutOfBounds(_) => 0,
        }
    }

    /// The length the guest gave, in bounds or not (to refuse an over-large payload unread, as v8 does).
    pub fn guest_len(&self) -> usize {
        match self {
            GuestBytes::Ok(l) => l.len(),
            GuestBytes::OutOfBounds(oob) => oob.len as usize,
        }
    }

    /// A copy of the bytes, or an ABI error naming `function` and the argument.
    pub fn read(&self, store: &StoreContextMut<'_, StoreData>, function: &str, what: &str) -> wasmtime::Result<napi::bindgen_prelude::Uint8Array> {
        match self {
            GuestBytes::OutOfBounds(oob) => Err(oob.error(function, what)),
            GuestBytes::Ok(l) => Ok(napi::bindgen_prelude::Uint8Array::from(l.as_le_slice(store).to_vec())),
        }
    }

    /// Append a copy of the bytes to `out`, or an ABI error as `read`.
    pub fn append_to(&self, store: &StoreContextMut<'_, StoreData>, out: &mut Vec<u8>, function: &str, what: &str) -> wasmtime::Result<()> {
        match self {
            GuestBytes::OutOfBounds(oob) => Err(oob.error(function, what)),
            GuestBytes::Ok(l) => {
                out.extend_from_slice(l.as_le_slice(store));
                Ok(())
            }
        }
    }

    /// `header` followed by a copy of the bytes (one allocation), or an ABI error as `read`.
    pub fn read_after(&self, store: &StoreContextMut<'_, StoreData>, header: &[u8], function: &str, what: &str) -> wasmtime::Result<napi::bindgen_prelude::Uint8Array> {
        match self {
            GuestBytes::OutOfBounds(oob) => Err(oob.error(function, what)),
            GuestBytes::Ok(l) => {
                let bytes = l.as_le_slice(store);
                let mut out = Vec::with_capacity(header.len() + bytes.len());
                out.extend_from_slice(header);
                out.extend_from_slice(bytes);
                Ok(napi::bindgen_prelude::Uint8Array::from(out))
            }
        }
    }
}

unsafe impl ComponentType for GuestBytes {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmList<u8> as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl Lift for GuestBytes {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        match OutOfBounds::check(cx, src[0].get_u32(), src[1].get_u32()) {
            Some(oob) => Ok(GuestBytes::OutOfBounds(oob)),
            None => WasmList::<u8>::linear_lift_from_flat(cx, ty, src).map(GuestBytes::Ok),
        }
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_memory(bytes);
        match OutOfBounds::check(cx, ptr, len) {
            Some(oob) => Ok(GuestBytes::OutOfBounds(oob)),
            None => WasmList::<u8>::linear_lift_from_memory(cx, ty, bytes).map(GuestBytes::Ok),
        }
    }
}

/// wit/plugin.wit's `log-level` cases, in order (generated).
use crate::contract::LOG_LEVELS;

/// A `log-level` argument, as the raw case number.
pub struct GuestLevel(u32);

impl GuestLevel {
    /// The level (0 debug … 3 error), or an ABI error for a number that is no case.
    pub fn check(&self, function: &str) -> wasmtime::Result<u8> {
        match u8::try_from(self.0) {
            Ok(n) if usize::from(n) < LOG_LEVELS.len() => Ok(n),
            _ => Err(abi(function, format!("log level {} is not a log-level case", self.0))),
        }
    }
}

unsafe impl ComponentType for GuestLevel {
    type Lower = [ValRaw; 1];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::enum_(LOG_LEVELS.len());

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        typecheck_enum(ty, types, &LOG_LEVELS)
    }
}

unsafe impl Lift for GuestLevel {
    fn linear_lift_from_flat(_cx: &mut LiftContext<'_>, _ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        Ok(GuestLevel(src[0].get_u32()))
    }

    fn linear_lift_from_memory(_cx: &mut LiftContext<'_>, _ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        Ok(GuestLevel(u32::from(bytes[0])))
    }
}

/// `on-hook`'s `result<list<u8>, s32>` as the guest returned it, checked
/// here so that a bad tag or list says which ("the returned result's tag 7
/// is neither ok (0) nor err (1)").
pub enum HookReturn {
    Ok(Vec<u8>),
    Err(i32),
}

type HookResult = Result<Vec<u8>, i32>;

unsafe impl ComponentType for HookReturn {
    type Lower = <HookResult as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <HookResult as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <HookResult as ComponentType>::typecheck(ty, types)
    }
}

/// Where the payload starts in the return area: after the u8 tag, aligned to the payload's 4.
const HOOK_PAYLOAD: usize = 4;

unsafe impl Lift for HookReturn {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        // Not reached: the result flattens to three values, so it always comes back in memory.
        Ok(match <HookResult as Lift>::linear_lift_from_flat(cx, ty, src)? {
            Ok(bytes) => HookReturn::Ok(bytes),
            Err(status) => HookReturn::Err(status),
        })
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, _ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        match bytes[0] {
            0 => {
                let (ptr, len) = (word(HOOK_PAYLOAD), word(HOOK_PAYLOAD + 4));
                if let Some(oob) = OutOfBounds::check(cx, ptr, len) {
                    let end = u64::from(ptr) + u64::from(len);
                    return Err(GuestAbi(format!("the returned list<u8> [{ptr}, {end}) is outside the guest's {}-byte memory", oob.memory)).into());
                }
                Ok(HookReturn::Ok(cx.memory()[ptr as usize..][..len as usize].to_vec()))
            }
            1 => Ok(HookReturn::Err(word(HOOK_PAYLOAD) as i32)),
            tag => Err(GuestAbi(format!("the returned result's tag {tag} is neither ok (0) nor err (1)")).into()),
        }
    }
}

/// wit/plugin.wit's `metric-kind` cases, in order (generated).
use crate::contract::METRIC_KINDS;

/// A `metric-kind` argument, as the raw case number.
pub struct GuestMetricKind(u32);

impl GuestMetricKind {
    /// The case number, or an ABI error for a number that is no case.
    pub fn check(&self, function: &str) -> wasmtime::Result<u8> {
        match u8::try_from(self.0) {
            Ok(n) if usize::from(n) < METRIC_KINDS.len() => Ok(n),
            _ => Err(abi(function, format!("metric kind {} is not a metric-kind case", self.0))),
        }
    }
}

unsafe impl ComponentType for GuestMetricKind {
    type Lower = [ValRaw; 1];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::enum_(METRIC_KINDS.len());

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        typecheck_enum(ty, types, &METRIC_KINDS)
    }
}

unsafe impl Lift for GuestMetricKind {
    fn linear_lift_from_flat(_cx: &mut LiftContext<'_>, _ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        Ok(GuestMetricKind(src[0].get_u32()))
    }

    fn linear_lift_from_memory(_cx: &mut LiftContext<'_>, _ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        Ok(GuestMetricKind(u32::from(bytes[0])))
    }
}

/// A `list<string>` argument of at most `ITEMS` strings of at most `CAP`
/// bytes each (metric label names and values). Nothing past those bounds is
/// read: a longer list or string is reported as such, unread, and the host
/// call refuses it. Bounds and UTF-8 are judged when it is read, so the error
/// names the function and the argument.
pub enum GuestStrList<const ITEMS: usize, const CAP: usize> {
    /// Each string's bytes (its first `CAP + 1` at most) and full length.
    Items(Vec<(Vec<u8>, u32)>),
    /// More than `ITEMS` strings: their count.
    TooMany(u32),
    /// The list, or one of its strings, lies outside memory: where, and what it was.
    OutOfBounds(OutOfBounds, &'static str),
    /// A string encoding other than UTF-8 (no plughost guest uses one).
    NotUtf8,
    /// The (ptr, len) array is not 4-byte aligned, as the canonical ABI requires: its address.
    Misaligned(u32),
}

/// Metric label names: 16 at most, each at most 64 bytes (the host's own limits are lower or equal).
pub type LabelNames = GuestStrList<16, 64>;
/// Metric label values: 16 at most, each at most 1,024 bytes.
pub type LabelValues = GuestStrList<16, 1024>;

impl<const ITEMS: usize, const CAP: usize> GuestStrList<ITEMS, CAP> {
    fn lift(cx: &mut LiftContext<'_>, ptr: u32, len: u32) -> wasmtime::Result<Self> {
        if cx.options().string_encoding != StringEncoding::Utf8 {
            return Ok(GuestStrList::NotUtf8);
        }
        if len as usize > ITEMS {
            return Ok(GuestStrList::TooMany(len));
        }
        if len > 0 && ptr % 4 != 0 {
            return Ok(GuestStrList::Misaligned(ptr));
        }
        // len <= ITEMS, so len * 8 cannot overflow.
        if let Some(oob) = OutOfBounds::check(cx, ptr, len * 8) {
            return Ok(GuestStrList::OutOfBounds(oob, "the list"));
        }
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len as usize {
            let (sp, sl) = pair_from_memory(&cx.memory()[ptr as usize + i * 8..][..8]);
            if let Some(oob) = OutOfBounds::check(cx, sp, sl) {
                return Ok(GuestStrList::OutOfBounds(oob, "a string of the list"));
            }
            let n = (sl as usize).min(CAP + 1);
            items.push((cx.memory()[sp as usize..][..n].to_vec(), sl));
        }
        Ok(GuestStrList::Items(items))
    }

    /// Bytes read from the guest (what the host pays to copy): the strings and their (ptr, len) pairs.
    pub fn read_len(&self) -> usize {
        match self {
            GuestStrList::Items(items) => items.iter().map(|(b, _)| b.len() + 8).sum(),
            _ => 0,
        }
    }

    /// True when the list holds more than `ITEMS` strings, or one longer than `CAP` bytes.
    pub fn over_cap(&self) -> bool {
        match self {
            GuestStrList::TooMany(_) => true,
            GuestStrList::Items(items) => items.iter().any(|(_, len)| *len as usize > CAP),
            _ => false,
        }
    }

    /// The strings packed for the JS dispatcher: each as [u32 LE length][UTF-8 bytes],
    /// or an ABI error naming `function` and the argument (`what`). Call only when it is not over the cap.
    pub fn pack(&self, function: &str, what: &str, out: &mut Vec<u8>) -> wasmtime::Result<()> {
        match self {
            GuestStrList::Items(items) => {
                for (bytes, _) in items {
                    if std::str::from_utf8(bytes).is_err() {
                        return Err(abi(function, format!("a string of {what} is not valid UTF-8")));
                    }
                    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                    out.extend_from_slice(bytes);
                }
                Ok(())
            }
            GuestStrList::OutOfBounds(oob, which) => Err(oob.error(function, &format!("{what}: {which}"))),
            GuestStrList::NotUtf8 => Err(abi(function, format!("{what} is not UTF-8 (the guest's string encoding)"))),
            GuestStrList::Misaligned(ptr) => Err(abi(function, format!("{what} {ptr} is not 4-byte aligned"))),
            GuestStrList::TooMany(n) => Err(abi(function, format!("{what} has {n} strings, over {ITEMS}"))),
        }
    }
}

unsafe impl<const ITEMS: usize, const CAP: usize> ComponentType for GuestStrList<ITEMS, CAP> {
    type Lower = [ValRaw; 2];
    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <WasmList<WasmStr> as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl<const ITEMS: usize, const CAP: usize> Lift for GuestStrList<ITEMS, CAP> {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, _ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        GuestStrList::lift(cx, src[0].get_u32(), src[1].get_u32())
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, _ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        let (ptr, len) = pair_from_memory(bytes);
        GuestStrList::lift(cx, ptr, len)
    }
}
