//! Why a call (or load) failed, in a form the TS side maps onto
//! `src/errors.ts`. Native errors reach JS as `Error` objects whose message is
//! `PWT:<kind>:<number>:<detail>`; `src/engines/wasmtime-errors.ts` parses it.

use crate::abi::GuestAbi;
use crate::host::{HostCallFailed, HostCallTimedOut};
use crate::iface::IfaceFault;
use crate::store::Stopped;
use wasmtime::Trap;
use wasmtime_wasi::I32Exit;

#[derive(Clone, Debug)]
pub enum Fault {
    /// The bytes are not a loadable component (`InvalidPluginBinary`).
    Invalid(String),
    /// The component needs an import the linker does not have (`MissingImportError`).
    Missing(String),
    /// Anything else that stopped instantiation (`ContextCreationFailed`).
    Load(String),
    /// A trap: unreachable, out-of-bounds, stack overflow… (`PluginTrap`).
    Trap(String),
    /// Out of fuel; the budget that ran out (`FuelExhausted`).
    Fuel(u64),
    /// Past the deadline, in ms (`DeadlineExceeded`).
    Deadline(f64),
    /// Memory needed at instantiation exceeds the cap (`MemoryLimitExceeded`).
    Memory(u64),
    /// Table elements needed at instantiation exceed the summed cap (`TableLimitExceeded`).
    Table(u64),
    /// The guest called `exit` (`PluginExited`).
    Exit(i32),
    /// The guest broke the canonical ABI (`AbiViolation`).
    Abi(String),
    /// A host function threw; the TS side has the JS error.
    Host(String),
    /// An app-interface value that does not fit its type, mid-call: from the host (`PluginTrap`) or from the guest
    /// (`AbiViolation`), with an `InterfaceValueError` cause. Detail: iface, fn, path, problem separated by U+001F.
    IfaceHost(String),
    IfaceGuest(String),
    /// The instance is already running a call (`ReentrancyError`).
    Busy,
    /// An earlier fault made the instance unusable (`PluginTrap`).
    Poisoned(String),
    /// `dispose()` was called.
    Disposed,
}

impl Fault {
    pub fn to_napi(&self) -> napi::Error {
        let (kind, num, detail): (&str, f64, &str) = match self {
            Fault::Invalid(d) => ("invalid", 0.0, d),
            Fault::Missing(d) => ("missing", 0.0, d),
            Fault::Load(d) => ("load", 0.0, d),
            Fault::Trap(d) => ("trap", 0.0, d),
            Fault::Fuel(b) => ("fuel", *b as f64, ""),
            Fault::Deadline(ms) => ("deadline", *ms, ""),
            Fault::Memory(cap) => ("memory", *cap as f64, ""),
            Fault::Table(cap) => ("table", *cap as f64, ""),
            Fault::Exit(code) => ("exit", f64::from(*code), ""),
            Fault::Abi(d) => ("abi", 0.0, d),
            Fault::Host(d) => ("host", 0.0, d),
            Fault::IfaceHost(d) => ("ifacehost", 0.0, d),
            Fault::IfaceGuest(d) => ("ifaceguest", 0.0, d),
            Fault::Busy => ("busy", 0.0, ""),
            Fault::Poisoned(d) => ("poisoned", 0.0, d),
            Fault::Disposed => ("disposed", 0.0, ""),
        };
        napi::Error::from_reason(format!("PWT:{kind}:{num}:{detail}"))
    }

    /// True when the instance must not be used again.
    pub fn poisons(&self) -> bool {
        !matches!(self, Fault::Busy | Fault::Disposed | Fault::Poisoned(_))
    }
}

/// What a failed call tells us, given the limits it ran under.
pub struct CallContext {
    pub fuel_budget: u64,
    pub deadline_ms: Option<f64>,
    pub memory_cap: Option<u64>,
    pub memory_refused: bool,
    pub table_cap: Option<u64>,
    pub table_refused: bool,
    /// The export that was called (`instantiate` during instantiation).
    pub export: &'static str,
    /// Which imports the component's glue shims, when it imports app interfaces (iface.rs).
    pub shims: Option<std::sync::Arc<crate::iface::ImportShims>>,
}

pub fn classify(err: &wasmtime::Error, cx: &CallContext) -> Fault {
    if err.downcast_ref::<Stopped>().is_some() {
        return Fault::Disposed;
    }
    if let Some(abi) = err.downcast_ref::<GuestAbi>() {
        return Fault::Abi(abi.0.clone());
    }
    if let Some(f) = err.downcast_ref::<IfaceFault>() {
        return match f {
            IfaceFault::Value { host: true, .. } => Fault::IfaceHost(f.detail()),
            IfaceFault::Value { .. } => Fault::IfaceGuest(f.detail()),
        };
    }
    if let Some(exit) = err.downcast_ref::<I32Exit>() {
        return Fault::Exit(exit.0);
    }
    if err.downcast_ref::<HostCallTimedOut>().is_some() {
        return Fault::Deadline(cx.deadline_ms.unwrap_or(0.0));
    }
    if let Some(h) = err.downcast_ref::<HostCallFailed>() {
        return Fault::Host(h.0.clone());
    }
    if let Some(trap) = err.downcast_ref::<Trap>() {
        return match trap {
            Trap::OutOfFuel => Fault::Fuel(cx.fuel_budget),
            Trap::Interrupt => Fault::Deadline(cx.deadline_ms.unwrap_or(0.0)),
            other => Fault::Trap(trap_reason(other, err)),
        };
    }
    if cx.memory_refused {
        if let Some(cap) = cx.memory_cap {
            return Fault::Memory(cap);
        }
    }
    if cx.table_refused {
        if let Some(cap) = cx.table_cap {
            return Fault::Table(cap);
        }
    }
    if let Some(detail) = guest_iface_value(err, cx.export, cx.shims.as_deref()) {
        return Fault::IfaceGuest(detail);
    }
    Fault::Abi(export_abi(err, cx.export))
}

/// A value the guest passed to an app import, or returned from a typed export, that wasmtime's lifting refused
/// (invalid UTF-8, a list outside memory, a bad discriminant): which import, from the shim function wit-component
/// puts between the guest and an import that needs canonical options (iface.rs `ImportShims`), else the typed export
/// called (its result).
fn guest_iface_value(err: &wasmtime::Error, export: &str, shims: Option<&crate::iface::ImportShims>) -> Option<String> {
    let cause = first_line(&err.root_cause().to_string());
    let lifting = ["utf-8", "utf8", "out of bounds", "discriminant", "not aligned", "invalid char", "expected a payload", "did not expect a payload", "invalid flags"]
        .iter()
        .any(|k| cause.contains(k));
    if !lifting || cause.starts_with("realloc return") {
        return None;
    }
    if let (Some(shims), Some(bt)) = (shims, err.downcast_ref::<wasmtime::WasmBacktrace>()) {
        let frames = bt.frames();
        if let (Some(shim), Some(caller)) = (frames.first(), frames.get(1)) {
            // The shim module imports no functions; the caller's module is the guest's.
            let guest = caller.module();
            let named = shim
                .module()
                .imports()
                .all(|i| !matches!(i.ty(), wasmtime::ExternType::Func(_)))
                .then(|| shims.name(guest.imports().filter(|i| matches!(i.ty(), wasmtime::ExternType::Func(_))).map(|i| (i.module(), i.name())), shim.func_index()))
                .flatten();
            if let Some((iface, func)) = named {
                if crate::iface::is_app(&iface) {
                    return Some(format!("{iface}\u{1f}{func}\u{1f}arguments\u{1f}{cause}"));
                }
                return None;
            }
        }
    }
    // Lifting a typed export's result happens after the guest returned: no guest frames. With frames, the value went
    // to an import this could not name (one lowered without a shim): a plain ABI violation.
    let in_guest = err.downcast_ref::<wasmtime::WasmBacktrace>().is_some_and(|bt| !bt.frames().is_empty());
    (export == "typed export" && !in_guest).then(|| format!("\u{1f}\u{1f}result\u{1f}{cause}"))
}


/// What wasmtime's canonical-ABI checks found wrong in what the guest
/// returned or allocated for an export call, said as what the guest did.
/// (Host-call arguments are checked by `abi.rs`, which names them.)
fn export_abi(err: &wasmtime::Error, export: &str) -> String {
    let cause = err.root_cause().to_string();
    let said = match cause.as_str() {
        "list pointer/length out of bounds of memory" => "the returned list<u8> (pointer, length) is outside the guest's memory",
        "string pointer/length out of bounds of memory" => "a returned string (pointer, length) is outside the guest's memory",
        "list pointer is not aligned" | "string pointer not aligned to 2" => "a returned pointer is not aligned",
        "pointer out of bounds of memory" | "return pointer not aligned" => "the return pointer it gave is outside the guest's memory or not aligned",
        "realloc return: beyond end of memory" => "cabi_realloc returned a pointer outside the guest's memory",
        "realloc return: result not aligned" => "cabi_realloc returned a pointer that is not aligned",
        _ => return format!("{} (in {export})", first_line(&cause)),
    };
    said.to_owned()
}


fn trap_reason(trap: &Trap, err: &wasmtime::Error) -> String {
    // The trap's own text ("wasm `unreachable` instruction executed"), plus
    // the innermost guest frame when a backtrace is attached.
    let mut reason = trap.to_string();
    if let Some(bt) = err.downcast_ref::<wasmtime::WasmBacktrace>() {
        if let Some(frame) = bt.frames().iter().find_map(|f| f.func_name().map(str::to_owned)) {
            reason.push_str(&format!(" (in {frame})"));
        }
    }
    reason
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(500).collect()
}
