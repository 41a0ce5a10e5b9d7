//! App-defined WIT interfaces (docs/host-interfaces.md): imports the host implements in JS, and typed exports the
//! host calls.
//!
//! Every function an app interface has is described once, when the component is compiled, by a `FnPlan` built
//! from the component's own types (`component_type()`): a tree mirroring each parameter and result type with the
//! JS spellings precomputed (record fields in lowerCamelCase). Values cross as wasmtime `Val`s, converted to and
//! from JS values by the plan (`to_js` / `from_js`), following the value convention of src/interfaces/types.ts.
//!
//! An import is linked with `func_new`; its host function reaches JS through the instance's interface dispatcher
//! `(index, args, ticket) => unknown` (src/engines/wasmtime/app-interfaces.ts):
//!
//! * on the JS thread (a synchronous call) it is called directly, with ticket 0, and what it returns is the
//!   result; a symbol means it failed (it threw, or returned a Promise there), the error is kept on the JS side;
//! * on the call thread (an asynchronous call) the arguments go over a thread-safe function with a ticket, and
//!   the JS side answers through `completeInterfaceCall(ticket, ok, value)`, at once or when the implementation's
//!   Promise settles; the call thread waits for it as `request` does (requests.rs): in slices, ended by a dispose
//!   or the call's deadline.
//!
//! A JS value that does not fit the result type ends the guest's call with `IfaceValue` (side host). Bad values
//! from the guest never reach here: wasmtime's lifting refuses them, and `fault.rs` reports that as an ABI
//! violation, naming the import from the backtrace when it can.

use crate::host::{charge, cost, HostCallFailed, HostCallTimedOut, Route};
use crate::requests::{NoAnswer, Tickets};
use crate::store::{StoreData, Stopped};
use napi::bindgen_prelude::{FunctionRef, Unknown};
use napi::sys;
use napi::threadsafe_function::{ThreadsafeCallContext, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsValue, Status};
use napi_derive::napi;
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::CString;
use std::ptr;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use wasmtime::component::types::{ComponentExtern, ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, Linker, Val};
use wasmtime::StoreContextMut;

/// Whether an instance name is an app interface: neither plughost's own nor WASI.
pub fn is_app(name: &str) -> bool {
    !name.starts_with("plughost:") && !name.starts_with("wasi:")
}

/// A WIT name in lowerCamelCase (`jsName` in src/interfaces/types.ts).
fn js_name(wit: &str) -> String {
    let wit = wit.strip_prefix('%').unwrap_or(wit);
    let mut out = String::with_capacity(wit.len());
    let mut up = false;
    for c in wit.chars() {
        if c == '-' {
            up = true;
        } else if up && c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            if up {
                out.push('-');
            }
            out.push(c);
            up = false;
        }
    }
    out
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

/// One WIT type, resolved, with what its JS form needs.
pub enum Plan {
    Bool,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F32,
    F64,
    Char,
    String,
    /// `list<u8>`: a Uint8Array.
    Bytes,
    List(Box<Plan>),
    Tuple(Vec<Plan>),
    /// Fields: WIT name, JS name, type.
    Record(Vec<(String, CString, Plan)>),
    /// Cases: WIT name, payload type.
    Variant(Vec<(String, Option<Plan>)>),
    Enum(Vec<String>),
    /// `nested`: this option is directly inside another option, so its JS form is `{tag: "some"|"none", val}`.
    Option(Box<Plan>, bool),
    Result(Option<Box<Plan>>, Option<Box<Plan>>),
    /// WIT name, JS name.
    Flags(Vec<(String, CString)>),
}

impl Plan {
    fn of(ty: &Type, nested: bool) -> Result<Plan, String> {
        Ok(match ty {
            Type::Bool => Plan::Bool,
            Type::U8 => Plan::U8,
            Type::U16 => Plan::U16,
            Type::U32 => Plan::U32,
            Type::U64 => Plan::U64,
            Type::S8 => Plan::S8,
            Type::S16 => Plan::S16,
            Type::S32 => Plan::S32,
            Type::S64 => Plan::S64,
            Type::Float32 => Plan::F32,
            Type::Float64 => Plan::F64,
            Type::Char => Plan::Char,
            Type::String => Plan::String,
            Type::List(l) => match l.ty() {
                Type::U8 => Plan::Bytes,
                t => Plan::List(Box::new(Plan::of(&t, false)?)),
            },
            Type::Tuple(t) => Plan::Tuple(t.types().map(|t| Plan::of(&t, false)).collect::<Result<_, _>>()?),
            Type::Record(r) => Plan::Record(
                r.fields().map(|f| Ok((f.name.to_owned(), cstring(&js_name(f.name)), Plan::of(&f.ty, false)?))).collect::<Result<_, String>>()?,
            ),
            Type::Variant(v) => Plan::Variant(
                v.cases().map(|c| Ok((c.name.to_owned(), c.ty.as_ref().map(|t| Plan::of(t, false)).transpose()?))).collect::<Result<_, String>>()?,
            ),
            Type::Enum(e) => Plan::Enum(e.names().map(str::to_owned).collect()),
            Type::Option(o) => Plan::Option(Box::new(Plan::of(&o.ty(), true)?), nested),
            Type::Result(r) => Plan::Result(
                r.ok().map(|t| Plan::of(&t, false).map(Box::new)).transpose()?,
                r.err().map(|t| Plan::of(&t, false).map(Box::new)).transpose()?,
            ),
            Type::Flags(f) => Plan::Flags(f.names().map(|n| (n.to_owned(), cstring(&js_name(n)))).collect()),
            Type::Own(_) | Type::Borrow(_) => return Err("resources are not supported in app interfaces yet".into()),
            _ => return Err("futures, streams, maps and fixed-length lists are not supported in app interfaces".into()),
        })
    }
}

/// One function of an app interface.
pub struct FnPlan {
    /// The versioned interface id, as the component names it.
    pub iface: String,
    /// The WIT function name.
    pub name: String,
    /// Parameters: WIT name, JS name (the path's root), type.
    pub params: Vec<(String, String, Plan)>,
    pub result: Option<Plan>,
}

impl FnPlan {
    fn of(iface: &str, name: &str, f: &ComponentFunc) -> Result<FnPlan, String> {
        let params = f.params().map(|(n, t)| Ok((n.to_owned(), js_name(n), Plan::of(&t, false)?))).collect::<Result<Vec<_>, String>>();
        let params = params.map_err(|e| format!("{iface}#{name}: {e}"))?;
        let mut results = f.results();
        let result = results.next().map(|t| Plan::of(&t, false)).transpose().map_err(|e| format!("{iface}#{name}: {e}"))?;
        Ok(FnPlan { iface: iface.to_owned(), name: name.to_owned(), params, result })
    }
}

/// The app-interface functions of a component's imports or exports, in a stable order (interfaces as the
/// component lists them, functions in declaration order): the index the JS side and the addon share.
fn functions<'a>(items: impl Iterator<Item = (&'a str, ComponentExtern<'a>)>) -> Result<Vec<Arc<FnPlan>>, String> {
    let engine = crate::engine::engine();
    let mut out = Vec::new();
    for (iface, item) in items {
        if !is_app(iface) {
            continue;
        }
        match item.ty {
            ComponentItem::ComponentInstance(inst) => {
                for (name, item) in inst.exports(engine) {
                    match item.ty {
                        ComponentItem::ComponentFunc(f) => out.push(Arc::new(FnPlan::of(iface, name, &f)?)),
                        ComponentItem::Type(_) => {}
                        ComponentItem::Resource(_) => return Err(format!("{iface}: resources are not supported in app interfaces yet")),
                        _ => return Err(format!("{iface}#{name}: only functions and types are supported in app interfaces")),
                    }
                }
            }
            ComponentItem::ComponentFunc(_) => return Err(format!("{iface}: a freestanding function; app functions must be in an interface")),
            _ => {}
        }
    }
    Ok(out)
}

/// The app interfaces a component imports and exports.
pub struct AppSurface {
    pub imports: Vec<Arc<FnPlan>>,
    pub exports: Vec<Arc<FnPlan>>,
}

impl AppSurface {
    pub fn of(component: &Component) -> Result<AppSurface, String> {
        let engine = crate::engine::engine();
        let ty = component.component_type();
        let imports = functions(ty.imports(engine))?;
        let exports = functions(ty.exports(engine))?;
        Ok(AppSurface { imports, exports })
    }
}

/// Define every imported app function in `linker` (a clone of the shared one, for this component alone).
pub fn link(linker: &mut Linker<StoreData>, imports: &[Arc<FnPlan>]) -> wasmtime::Result<()> {
    let mut at = 0;
    while at < imports.len() {
        let iface = imports[at].iface.clone();
        let mut inst = linker.instance(&iface)?;
        while at < imports.len() && imports[at].iface == iface {
            let plan = imports[at].clone();
            let index = at as u32;
            // Flat scalar signatures get a typed host function: wasmtime then lifts and lowers them without `Val`
            // vectors or dynamic type checks (about half of a call's cost).
            if !typed::link(&mut inst, index, &plan)? {
                inst.func_new(&plan.name.clone(), move |mut store, _ty, params, results| call_host(&mut store, index, &plan, params, results))?;
            }
            at += 1;
        }
    }
    Ok(())
}

/// Typed host functions for signatures of flat scalars (u32, s32, u64, s64, f32, f64, bool): up to two parameters of
/// any of them, or three or four of one, and no result or one. Each is chosen at link time from the import's
/// type; the values still cross through `call_host`, as `Val`s on the stack (scalars allocate nothing).
mod typed {
    use super::{call_host, direct_enter, direct_invoke, finish, misfit_answer, FnPlan, Plan};
    use crate::host::{charge, HostCallFailed, Route};
    use crate::store::StoreData;
    use napi::sys;
    use std::ptr;
    use std::sync::Arc;
    use wasmtime::component::{ComponentNamedList, LinkerInstance, Lower, Val};
    use wasmtime::StoreContextMut;

    /// A scalar: its `Val`, its JS value, and its reading of a JS value of the right type and range (None: any other
    /// value, looked at closer by `from_js`, which says what is wrong).
    pub trait Scalar: wasmtime::component::ComponentType + wasmtime::component::Lift + Lower + Copy + Send + Sync + 'static {
        fn val(self) -> Val;
        fn of(v: &Val) -> Option<Self>;
        unsafe fn js(self, env: sys::napi_env) -> sys::napi_value;
        unsafe fn read(env: sys::napi_env, v: sys::napi_value) -> Option<Self>;
    }

    unsafe fn double(env: sys::napi_env, v: sys::napi_value) -> Option<f64> {
        // Refuses a non-number itself: no napi_typeof needed.
        let mut n = 0.0;
        (sys::napi_get_value_double(env, v, &mut n) == sys::Status::napi_ok).then_some(n)
    }

    macro_rules! scalar {
        ($t:ty, $v:ident, |$env:ident, $x:ident| $js:expr, |$renv:ident, $rv:ident| $read:expr) => {
            impl Scalar for $t {
                fn val(self) -> Val {
                    Val::$v(self)
                }
                fn of(v: &Val) -> Option<Self> {
                    if let Val::$v(x) = v { Some(*x) } else { None }
                }
                #[inline]
                unsafe fn js(self, $env: sys::napi_env) -> sys::napi_value {
                    let $x = self;
                    let mut out = ptr::null_mut();
                    $js(&mut out);
                    out
                }
                #[inline]
                unsafe fn read($renv: sys::napi_env, $rv: sys::napi_value) -> Option<Self> {
                    $read
                }
            }
        };
    }
    scalar!(u32, U32, |env, x| |o| sys::napi_create_uint32(env, x, o), |env, v| double(env, v)
        .and_then(|n| (n >= 0.0 && n <= 4294967295.0 && (n as u32) as f64 == n).then_some(n as u32)));
    scalar!(i32, S32, |env, x| |o| sys::napi_create_int32(env, x, o), |env, v| double(env, v)
        .and_then(|n| (n >= -2147483648.0 && n <= 2147483647.0 && (n as i32) as f64 == n).then_some(n as i32)));
    scalar!(f32, Float32, |env, x| |o| sys::napi_create_double(env, f64::from(x), o), |env, v| double(env, v).map(|n| n as f32));
    scalar!(f64, Float64, |env, x| |o| sys::napi_create_double(env, x, o), |env, v| double(env, v));
    scalar!(bool, Bool, |env, x| |o| sys::napi_get_boolean(env, x, o), |env, v| {
        let mut b = false;
        (sys::napi_get_value_bool(env, v, &mut b) == sys::Status::napi_ok).then_some(b)
    });
    scalar!(u64, U64, |env, x| |o| sys::napi_create_bigint_uint64(env, x, o), |env, v| {
        let (mut n, mut lossless) = (0u64, false);
        (sys::napi_get_value_bigint_uint64(env, v, &mut n, &mut lossless) == sys::Status::napi_ok && lossless).then_some(n)
    });
    scalar!(i64, S64, |env, x| |o| sys::napi_create_bigint_int64(env, x, o), |env, v| {
        let (mut n, mut lossless) = (0i64, false);
        (sys::napi_get_value_bigint_int64(env, v, &mut n, &mut lossless) == sys::Status::napi_ok && lossless).then_some(n)
    });

    /// What a function returns: nothing, or one scalar.
    pub trait Ret: 'static {
        type Out: ComponentNamedList + Lower + Send + Sync + 'static;
        fn out(v: Option<&Val>) -> Option<Self::Out>;
        /// The JS result read as `Out`; None: not a fitting value (or, for no result, the failure symbol).
        unsafe fn read(env: sys::napi_env, v: sys::napi_value) -> Option<Self::Out>;
    }
    impl Ret for () {
        type Out = ();
        fn out(_: Option<&Val>) -> Option<()> {
            Some(())
        }
        unsafe fn read(env: sys::napi_env, v: sys::napi_value) -> Option<()> {
            (super::type_of(env, v) != sys::ValueType::napi_symbol).then_some(())
        }
    }
    impl<T: Scalar> Ret for T {
        type Out = (T,);
        fn out(v: Option<&Val>) -> Option<(T,)> {
            v.and_then(T::of).map(|x| (x,))
        }
        unsafe fn read(env: sys::napi_env, v: sys::napi_value) -> Option<(T,)> {
            T::read(env, v).map(|x| (x,))
        }
    }

    /// One call. On the JS thread the arguments are made straight into JS values (`argv`, in the export call's
    /// handle scope) and the result read back without `Val`s; elsewhere (the call thread, or no shared scope) it
    /// goes the generic way, `call_host`, with the parameters as `Val`s.
    fn call<R: Ret, const N: usize>(
        store: &mut StoreContextMut<'_, StoreData>,
        index: u32,
        plan: &Arc<FnPlan>,
        argv: impl FnOnce(sys::napi_env) -> [sys::napi_value; N],
        vals: impl FnOnce() -> [Val; N],
    ) -> wasmtime::Result<R::Out> {
        if let Route::Direct(env) = store.data().host.route {
            // Scalars copy no bytes: the call's 1 unit of fuel, as `call_host` charges.
            charge(store, 1)?;
            let Some(bridge) = store.data().iface.as_ref() else {
                return Err(HostCallFailed("the instance has no interface dispatcher".into()).into());
            };
            if let Some((f, recv)) = unsafe { direct_enter(env, bridge, index) }? {
                let args = argv(env);
                let Some(ret) = (unsafe { direct_invoke(env, f, recv, &args) }) else {
                    return Err(HostCallFailed("the host function threw".into()).into());
                };
                if let Some(out) = unsafe { R::read(env, ret) } {
                    return Ok(out);
                }
                let mut slot = [Val::Bool(false)];
                let results: &mut [Val] = if plan.result.is_some() { &mut slot } else { &mut [] };
                finish(plan, unsafe { misfit_answer(env, ret, plan) }, results)?;
                return R::out(results.first()).ok_or_else(|| wasmtime::format_err!("{}#{}: the result has the wrong type", plan.iface, plan.name));
            }
        }
        let mut slot = [Val::Bool(false)];
        let results: &mut [Val] = if plan.result.is_some() { &mut slot } else { &mut [] };
        call_host(store, index, plan, &vals(), results)?;
        // call_host fills the slot with a value of the result's type (from_js by the plan).
        R::out(results.first()).ok_or_else(|| wasmtime::format_err!("{}#{}: the result has the wrong type", plan.iface, plan.name))
    }

    type Inst<'a, 'b> = LinkerInstance<'a, StoreData>;

    fn wrap0<R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>) -> wasmtime::Result<()> {
        let name = plan.name.clone();
        inst.func_wrap(&name, move |mut s: StoreContextMut<'_, StoreData>, (): ()| call::<R, 0>(&mut s, index, &plan, |_| [], || []))
    }
    fn wrap1<A: Scalar, R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>) -> wasmtime::Result<()> {
        let name = plan.name.clone();
        inst.func_wrap(&name, move |mut s: StoreContextMut<'_, StoreData>, (a,): (A,)| {
            call::<R, 1>(&mut s, index, &plan, |env| unsafe { [a.js(env)] }, || [a.val()])
        })
    }
    fn wrap2<A: Scalar, B: Scalar, R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>) -> wasmtime::Result<()> {
        let name = plan.name.clone();
        inst.func_wrap(&name, move |mut s: StoreContextMut<'_, StoreData>, (a, b): (A, B)| {
            call::<R, 2>(&mut s, index, &plan, |env| unsafe { [a.js(env), b.js(env)] }, || [a.val(), b.val()])
        })
    }
    fn wrap3<A: Scalar, R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>) -> wasmtime::Result<()> {
        let name = plan.name.clone();
        inst.func_wrap(&name, move |mut s: StoreContextMut<'_, StoreData>, (a, b, c): (A, A, A)| {
            call::<R, 3>(&mut s, index, &plan, |env| unsafe { [a.js(env), b.js(env), c.js(env)] }, || [a.val(), b.val(), c.val()])
        })
    }
    fn wrap4<A: Scalar, R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>) -> wasmtime::Result<()> {
        let name = plan.name.clone();
        inst.func_wrap(&name, move |mut s: StoreContextMut<'_, StoreData>, (a, b, c, d): (A, A, A, A)| {
            call::<R, 4>(&mut s, index, &plan, |env| unsafe { [a.js(env), b.js(env), c.js(env), d.js(env)] }, || [a.val(), b.val(), c.val(), d.val()])
        })
    }

    #[derive(Clone, Copy, PartialEq)]
    enum K {
        U32,
        S32,
        U64,
        S64,
        F32,
        F64,
        Bool,
    }

    fn kind(p: &Plan) -> Option<K> {
        Some(match p {
            Plan::U32 => K::U32,
            Plan::S32 => K::S32,
            Plan::U64 => K::U64,
            Plan::S64 => K::S64,
            Plan::F32 => K::F32,
            Plan::F64 => K::F64,
            Plan::Bool => K::Bool,
            _ => return None,
        })
    }

    /// `$go::<T, ...>` with the scalar type of kind `$k` spliced in as the next type argument.
    macro_rules! by_kind {
        ($k:expr, $go:ident, [$($pre:ty),*], $($arg:expr),*) => {
            match $k {
                K::U32 => $go::<$($pre,)* u32>($($arg),*),
                K::S32 => $go::<$($pre,)* i32>($($arg),*),
                K::U64 => $go::<$($pre,)* u64>($($arg),*),
                K::S64 => $go::<$($pre,)* i64>($($arg),*),
                K::F32 => $go::<$($pre,)* f32>($($arg),*),
                K::F64 => $go::<$($pre,)* f64>($($arg),*),
                K::Bool => $go::<$($pre,)* bool>($($arg),*),
            }
        };
    }

    /// The result's kind (None: no result) and the parameters' kinds.
    struct Sig {
        ret: Option<K>,
        params: Vec<K>,
    }

    fn ret0<R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, _: &Sig) -> wasmtime::Result<()> {
        wrap0::<R>(inst, index, plan)
    }
    fn ret1<R: Ret, A: Scalar>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, _: &Sig) -> wasmtime::Result<()> {
        wrap1::<A, R>(inst, index, plan)
    }
    fn ret2b<R: Ret, A: Scalar, B: Scalar>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, _: &Sig) -> wasmtime::Result<()> {
        wrap2::<A, B, R>(inst, index, plan)
    }
    fn ret2<R: Ret, A: Scalar>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, sig: &Sig) -> wasmtime::Result<()> {
        by_kind!(sig.params[1], ret2b, [R, A], inst, index, plan, sig)
    }
    fn ret3<R: Ret, A: Scalar>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, _: &Sig) -> wasmtime::Result<()> {
        wrap3::<A, R>(inst, index, plan)
    }
    fn ret4<R: Ret, A: Scalar>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, _: &Sig) -> wasmtime::Result<()> {
        wrap4::<A, R>(inst, index, plan)
    }
    fn with_ret<R: Ret>(inst: &mut Inst, index: u32, plan: Arc<FnPlan>, sig: &Sig) -> wasmtime::Result<()> {
        match sig.params.len() {
            0 => ret0::<R>(inst, index, plan, sig),
            1 => by_kind!(sig.params[0], ret1, [R], inst, index, plan, sig),
            2 => by_kind!(sig.params[0], ret2, [R], inst, index, plan, sig),
            3 => by_kind!(sig.params[0], ret3, [R], inst, index, plan, sig),
            _ => by_kind!(sig.params[0], ret4, [R], inst, index, plan, sig),
        }
    }

    /// Define `plan`'s function typed when its signature is one of the flat ones; false when it is not.
    pub fn link(inst: &mut Inst, index: u32, plan: &Arc<FnPlan>) -> wasmtime::Result<bool> {
        let Some(params) = plan.params.iter().map(|(_, _, p)| kind(p)).collect::<Option<Vec<K>>>() else { return Ok(false) };
        let ret = match &plan.result {
            None => None,
            Some(p) => match kind(p) {
                Some(k) => Some(k),
                None => return Ok(false),
            },
        };
        let fits = match params.len() {
            0..=2 => true,
            3 | 4 => params.iter().all(|k| *k == params[0]),
            _ => false,
        };
        if !fits {
            return Ok(false);
        }
        let sig = Sig { ret, params };
        let plan = plan.clone();
        match sig.ret {
            None => with_ret::<()>(inst, index, plan, &sig)?,
            Some(k) => by_kind!(k, with_ret, [], inst, index, plan, &sig)?,
        }
        Ok(true)
    }
}

// ── the bridge to JS

/// The arguments of one call on the call thread, converted to JS on the JS thread.
pub struct IfaceJob {
    index: u32,
    ticket: u32,
    args: Vec<Val>,
    plan: Arc<FnPlan>,
}

/// `(index, args, ticket)` as the dispatcher's three JS arguments.
pub struct IfaceJsArgs(sys::napi_value, sys::napi_value, sys::napi_value);

impl napi::bindgen_prelude::JsValuesTupleIntoVec for IfaceJsArgs {
    fn into_vec(self, _env: sys::napi_env) -> napi::Result<Vec<sys::napi_value>> {
        Ok(vec![self.0, self.1, self.2])
    }
}

pub type IfaceTsfn = ThreadsafeFunction<IfaceJob, Unknown<'static>, IfaceJsArgs, Status, false, true>;

/// The instance's interface dispatchers: one JS function per imported function for the JS thread (called with the
/// arguments as they are, answering by returning), and one for the call thread.
pub struct IfaceBridge {
    direct: Vec<FunctionRef<Unknown<'static>, Unknown<'static>>>,
    threaded: IfaceTsfn,
    /// To name the import a bad guest value was passed to (`fault.rs`).
    pub shims: Arc<ImportShims>,
    /// The handle scope of the current synchronous export call's interface calls.
    pub scope: CallScope,
}

impl IfaceBridge {
    pub fn new(
        dispatcher: &napi::bindgen_prelude::Function<'_, Unknown<'static>, Unknown<'static>>,
        direct: &[napi::bindgen_prelude::Function<'_, Unknown<'static>, Unknown<'static>>],
        shims: Arc<ImportShims>,
    ) -> napi::Result<IfaceBridge> {
        let direct = direct.iter().map(|f| f.create_ref()).collect::<napi::Result<Vec<_>>>()?;
        let threaded = dispatcher
            .build_threadsafe_function::<IfaceJob>()
            .weak::<true>()
            .callee_handled::<false>()
            .build_callback(|cx: ThreadsafeCallContext<IfaceJob>| {
                let env = cx.env.raw();
                let job = cx.value;
                // A value that cannot be made in JS (out of memory) reaches the dispatcher as undefined arguments; the
                // guest's argument values were already checked by wasmtime.
                let args = unsafe { args_to_js(env, &job.args, &job.plan) }.unwrap_or(ptr::null_mut());
                unsafe {
                    let mut index = ptr::null_mut();
                    let mut ticket = ptr::null_mut();
                    sys::napi_create_uint32(env, job.index, &mut index);
                    sys::napi_create_uint32(env, job.ticket, &mut ticket);
                    Ok(IfaceJsArgs(index, args, ticket))
                }
            })?;
        let scope = CallScope::new(direct.len());
        Ok(IfaceBridge { direct, threaded, shims, scope })
    }
}

// Both parts are only used on the thread they belong to: the reference on the JS thread (Route::Direct), the
// thread-safe function from anywhere.
unsafe impl Send for IfaceBridge {}
unsafe impl Sync for IfaceBridge {}

/// Why an interface call failed, for `fault.rs`.
#[derive(Debug)]
pub enum IfaceFault {
    /// A value (from the host when `host`, else from the guest) that does not fit its type.
    Value { host: bool, iface: String, func: String, path: String, problem: String },
}

impl std::fmt::Display for IfaceFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IfaceFault::Value { iface, func, path, problem, .. } => write!(f, "{iface}#{func}: {path}: {problem}"),
        }
    }
}
impl std::error::Error for IfaceFault {}

impl IfaceFault {
    /// The detail `fault.rs` hands to JS: iface, fn, path, problem separated by U+001F.
    pub fn detail(&self) -> String {
        match self {
            IfaceFault::Value { iface, func, path, problem, .. } => format!("{iface}\u{1f}{func}\u{1f}{path}\u{1f}{problem}"),
        }
    }
}


/// An answer from the JS side to an asynchronous call: the result (None: the function returns nothing), or why not.
enum Answer {
    Value(Option<Val>),
    Threw,
    Misfit((String, String)),
}

struct Waiting {
    tx: mpsc::SyncSender<Answer>,
    plan: Arc<FnPlan>,
}

/// Interface calls of call threads waiting for their answer (requests.rs's table, with the plan to convert it by).
static CALLS: Tickets<Waiting> = Tickets::new();

/// Hand the answer of interface call `ticket` to the call thread waiting for it: `ok` with the implementation's
/// value (converted here, by the function's result type), or not ok when it threw or its Promise rejected (the JS
/// side keeps the error). Returns false when nobody waits any more (the call ended: disposed, past its deadline).
#[napi]
pub fn complete_interface_call(ticket: u32, ok: bool, value: Unknown) -> bool {
    let Some(w) = CALLS.remove(ticket) else {
        return false;
    };
    let answer = if !ok {
        Answer::Threw
    } else {
        match &w.plan.result {
            None => Answer::Value(None),
            Some(plan) => {
                match unsafe { from_js(value.value().env, value.raw(), plan) } {
                    Ok(v) => Answer::Value(Some(v)),
                    Err(m) => Answer::Misfit((format!("result{}", m.path), m.problem)),
                }
            }
        }
    };
    w.tx.try_send(answer).is_ok()
}

/// Bytes of strings and lists in `vals`, for fuel (1 unit per 64 bytes copied, as the other host calls).
fn val_bytes(v: &Val) -> usize {
    match v {
        Val::String(s) => s.len(),
        Val::List(items) | Val::Tuple(items) => items.iter().map(|i| if let Val::U8(_) = i { 1 } else { val_bytes(i) }).sum(),
        Val::Record(fields) => fields.iter().map(|(_, v)| val_bytes(v)).sum(),
        Val::Variant(_, Some(v)) | Val::Option(Some(v)) | Val::Result(Ok(Some(v)) | Err(Some(v))) => val_bytes(v),
        _ => 0,
    }
}

/// The host function of one imported app function.
fn call_host(store: &mut StoreContextMut<'_, StoreData>, index: u32, plan: &Arc<FnPlan>, params: &[Val], results: &mut [Val]) -> wasmtime::Result<()> {
    charge(store, cost(params.iter().map(val_bytes).sum()))?;
    let route = store.data().host.route;
    let answer = {
        let data = store.data();
        let Some(bridge) = data.iface.as_ref() else {
            return Err(HostCallFailed("the instance has no interface dispatcher".into()).into());
        };
        match route {
            Route::Direct(env) => unsafe { call_direct(env, bridge, index, plan, params) }?,
            Route::Threaded(deadline) => {
                let ticket = CALLS.take(|tx| Waiting { tx, plan: plan.clone() });
                let job = IfaceJob { index, ticket: ticket.id, args: params.to_vec(), plan: plan.clone() };
                let status = bridge.threaded.call(job, ThreadsafeFunctionCallMode::Blocking);
                if status != Status::Ok {
                    return Err(HostCallFailed(format!("the JS thread is not accepting calls ({status})")).into());
                }
                match ticket.wait(&data.stop, deadline, Duration::from_millis(20)) {
                    Ok(answer) => answer,
                    Err(NoAnswer::Stopped) => return Err(Stopped.into()),
                    Err(NoAnswer::Deadline) => return Err(HostCallTimedOut.into()),
                }
            }
        }
    };
    if let Answer::Value(Some(v)) = &answer {
        charge(store, crate::host::byte_fuel(val_bytes(v)))?;
    }
    finish(plan, answer, results)
}

/// The answer into the result slot, or the guest call's error.
fn finish(plan: &FnPlan, answer: Answer, results: &mut [Val]) -> wasmtime::Result<()> {
    match answer {
        Answer::Threw => Err(HostCallFailed("the host function threw".into()).into()),
        Answer::Misfit((path, problem)) => {
            Err(IfaceFault::Value { host: true, iface: plan.iface.clone(), func: plan.name.clone(), path, problem }.into())
        }
        Answer::Value(v) => {
            if let (Some(v), Some(slot)) = (v, results.first_mut()) {
                *slot = v;
            }
            Ok(())
        }
    }
}

/// A handle scope kept open across the interface calls of one synchronous export call, renewed every `RENEW` calls
/// and closed when the export call ends (`end`): opening one per call costs an allocation, and the dispatchers'
/// handles and `undefined` can then be looked up once per scope. Used only on the JS thread, and only between
/// `begin` and `end` (calls.rs `run`), so scopes stay nested in the export call's own.
pub struct CallScope {
    active: Cell<bool>,
    env: Cell<sys::napi_env>,
    scope: Cell<sys::napi_handle_scope>,
    uses: Cell<u32>,
    undefined: Cell<sys::napi_value>,
    /// The dispatchers' handles in the current scope, by import index (null: not looked up yet).
    fns: Vec<Cell<sys::napi_value>>,
}

/// Calls per scope: bounds the handles a long guest loop holds (three per call).
const RENEW: u32 = 256;

impl CallScope {
    fn new(n: usize) -> CallScope {
        CallScope {
            active: Cell::new(false),
            env: Cell::new(ptr::null_mut()),
            scope: Cell::new(ptr::null_mut()),
            uses: Cell::new(0),
            undefined: Cell::new(ptr::null_mut()),
            fns: (0..n).map(|_| Cell::new(ptr::null_mut())).collect(),
        }
    }

    /// An export call starts on the JS thread.
    pub fn begin(&self) {
        self.active.set(true);
    }

    /// The export call ended: close the scope if one is open.
    pub fn end(&self) {
        self.active.set(false);
        self.close();
    }

    fn close(&self) {
        let scope = self.scope.replace(ptr::null_mut());
        if !scope.is_null() {
            unsafe { sys::napi_close_handle_scope(self.env.get(), scope) };
        }
    }

    /// The open scope (opened or renewed as needed); false when none can be used (outside begin/end).
    unsafe fn enter(&self, env: sys::napi_env) -> bool {
        if !self.active.get() {
            return false;
        }
        if self.scope.get().is_null() || self.uses.get() >= RENEW {
            self.close();
            let mut scope = ptr::null_mut();
            if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
                return false;
            }
            self.env.set(env);
            self.scope.set(scope);
            self.uses.set(0);
            for f in &self.fns {
                f.set(ptr::null_mut());
            }
            let mut undefined = ptr::null_mut();
            sys::napi_get_undefined(env, &mut undefined);
            self.undefined.set(undefined);
        }
        self.uses.set(self.uses.get() + 1);
        true
    }
}

/// The dispatcher of import `index` and the receiver, in the export call's shared handle scope (`CallScope`); None
/// when there is none to share (the caller then goes the generic way).
unsafe fn direct_enter(env: sys::napi_env, bridge: &IfaceBridge, index: u32) -> wasmtime::Result<Option<(sys::napi_value, sys::napi_value)>> {
    let cs = &bridge.scope;
    if !cs.enter(env) {
        return Ok(None);
    }
    let (Some(slot), Some(r)) = (cs.fns.get(index as usize), bridge.direct.get(index as usize)) else {
        return Err(HostCallFailed(format!("no dispatcher for import {index}")).into());
    };
    let mut f = slot.get();
    if f.is_null() {
        f = r.borrow_back(&Env::from_raw(env)).map_err(|e| HostCallFailed(e.reason.clone()))?.raw();
        slot.set(f);
    }
    Ok(Some((f, cs.undefined.get())))
}

/// Call `f`; None when it threw (the dispatcher catches what implementations throw; anything that escaped it is
/// cleared here).
#[inline]
unsafe fn direct_invoke(env: sys::napi_env, f: sys::napi_value, recv: sys::napi_value, argv: &[sys::napi_value]) -> Option<sys::napi_value> {
    let mut ret = ptr::null_mut();
    if sys::napi_call_function(env, recv, f, argv.len(), argv.as_ptr(), &mut ret) == sys::Status::napi_ok {
        return Some(ret);
    }
    let mut pending = false;
    sys::napi_is_exception_pending(env, &mut pending);
    if pending {
        let mut e = ptr::null_mut();
        sys::napi_get_and_clear_last_exception(env, &mut e);
    }
    None
}

/// The answer of a dispatcher's result that did not read as the result type at once: the failure symbol, a value
/// that does not fit (what is wrong with it), or one that fits after all.
#[cold]
unsafe fn misfit_answer(env: sys::napi_env, ret: sys::napi_value, plan: &FnPlan) -> Answer {
    if type_of(env, ret) == sys::ValueType::napi_symbol {
        return Answer::Threw;
    }
    match &plan.result {
        None => Answer::Value(None),
        Some(p) => match from_js(env, ret, p) {
            Ok(v) => Answer::Value(Some(v)),
            Err(m) => Answer::Misfit((format!("result{}", m.path), m.problem)),
        },
    }
}

/// Call the function's own dispatcher on the JS thread with the arguments as JS arguments, in a handle scope of its
/// own (a guest may call millions of times within one napi call).
unsafe fn call_direct(raw_env: sys::napi_env, bridge: &IfaceBridge, index: u32, plan: &FnPlan, params: &[Val]) -> wasmtime::Result<Answer> {
    let env = Env::from_raw(raw_env);
    let Some(f) = bridge.direct.get(index as usize) else {
        return Err(HostCallFailed(format!("no dispatcher for import {index}")).into());
    };
    let mut scope = ptr::null_mut();
    sys::napi_open_handle_scope(raw_env, &mut scope);
    let out = (|| -> wasmtime::Result<Answer> {
        // Inside the scope: the function's handle is one of this call's.
        let f = f.borrow_back(&env).map_err(|e| HostCallFailed(e.reason.clone()))?;
        const INLINE: usize = 8;
        let mut inline = [ptr::null_mut(); INLINE];
        let mut spilled = Vec::new();
        let argv: &mut [sys::napi_value] = if params.len() <= INLINE {
            &mut inline[..params.len()]
        } else {
            spilled.resize(params.len(), ptr::null_mut());
            &mut spilled
        };
        for ((slot, v), (_, _, p)) in argv.iter_mut().zip(params).zip(&plan.params) {
            *slot = to_js(raw_env, v, p).map_err(|e| HostCallFailed(format!("could not make the arguments in JS: {e}")))?;
        }
        let mut recv = ptr::null_mut();
        sys::napi_get_undefined(raw_env, &mut recv);
        let mut ret = ptr::null_mut();
        let st = sys::napi_call_function(raw_env, recv, f.raw(), argv.len(), argv.as_ptr(), &mut ret);
        if st != sys::Status::napi_ok {
            // The dispatcher catches what implementations throw; clear anything that escaped it.
            let mut pending = false;
            sys::napi_is_exception_pending(raw_env, &mut pending);
            if pending {
                let mut e = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(raw_env, &mut e);
            }
            return Ok(Answer::Threw);
        }
        if type_of(raw_env, ret) == sys::ValueType::napi_symbol {
            return Ok(Answer::Threw);
        }
        Ok(match &plan.result {
            None => Answer::Value(None),
            Some(p) => {
                match from_js(raw_env, ret, p) {
                    Ok(v) => Answer::Value(Some(v)),
                    Err(m) => Answer::Misfit((format!("result{}", m.path), m.problem)),
                }
            }
        })
    })();
    sys::napi_close_handle_scope(raw_env, scope);
    out
}

// ── Val ↔ JS

macro_rules! ok {
    ($e:expr) => {
        if $e != sys::Status::napi_ok {
            return Err("a node-api call failed".to_owned().into());
        }
    };
}

unsafe fn type_of(env: sys::napi_env, v: sys::napi_value) -> i32 {
    let mut t = 0;
    if sys::napi_typeof(env, v, &mut t) != sys::Status::napi_ok {
        return -1;
    }
    t
}

/// The arguments as one JS array.
pub unsafe fn args_to_js(env: sys::napi_env, params: &[Val], plan: &FnPlan) -> Result<sys::napi_value, String> {
    let mut arr = ptr::null_mut();
    ok!(sys::napi_create_array_with_length(env, params.len(), &mut arr));
    for (i, (v, (_, _, p))) in params.iter().zip(&plan.params).enumerate() {
        let js = to_js(env, v, p)?;
        ok!(sys::napi_set_element(env, arr, i as u32, js));
    }
    Ok(arr)
}

unsafe fn str_js(env: sys::napi_env, s: &str) -> Result<sys::napi_value, String> {
    let mut out = ptr::null_mut();
    ok!(sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out));
    Ok(out)
}

unsafe fn tagged(env: sys::napi_env, tag: &str, val: Option<sys::napi_value>) -> Result<sys::napi_value, String> {
    let mut obj = ptr::null_mut();
    ok!(sys::napi_create_object(env, &mut obj));
    ok!(sys::napi_set_named_property(env, obj, c"tag".as_ptr(), str_js(env, tag)?));
    if let Some(v) = val {
        ok!(sys::napi_set_named_property(env, obj, c"val".as_ptr(), v));
    }
    Ok(obj)
}

/// A value the guest gave (already checked by wasmtime's lifting) as a JS value.
pub unsafe fn to_js(env: sys::napi_env, v: &Val, plan: &Plan) -> Result<sys::napi_value, String> {
    let mut out = ptr::null_mut();
    match (v, plan) {
        (Val::Bool(b), _) => ok!(sys::napi_get_boolean(env, *b, &mut out)),
        (Val::U8(n), _) => ok!(sys::napi_create_uint32(env, u32::from(*n), &mut out)),
        (Val::U16(n), _) => ok!(sys::napi_create_uint32(env, u32::from(*n), &mut out)),
        (Val::U32(n), _) => ok!(sys::napi_create_uint32(env, *n, &mut out)),
        (Val::S8(n), _) => ok!(sys::napi_create_int32(env, i32::from(*n), &mut out)),
        (Val::S16(n), _) => ok!(sys::napi_create_int32(env, i32::from(*n), &mut out)),
        (Val::S32(n), _) => ok!(sys::napi_create_int32(env, *n, &mut out)),
        (Val::U64(n), _) => ok!(sys::napi_create_bigint_uint64(env, *n, &mut out)),
        (Val::S64(n), _) => ok!(sys::napi_create_bigint_int64(env, *n, &mut out)),
        (Val::Float32(n), _) => ok!(sys::napi_create_double(env, f64::from(*n), &mut out)),
        (Val::Float64(n), _) => ok!(sys::napi_create_double(env, *n, &mut out)),
        (Val::Char(c), _) => return str_js(env, c.encode_utf8(&mut [0; 4])),
        (Val::String(s), _) => return str_js(env, s),
        (Val::List(items), Plan::Bytes) => {
            let mut data = ptr::null_mut();
            let mut ab = ptr::null_mut();
            ok!(sys::napi_create_arraybuffer(env, items.len(), &mut data, &mut ab));
            let bytes = data.cast::<u8>();
            for (i, item) in items.iter().enumerate() {
                if let Val::U8(b) = item {
                    *bytes.add(i) = *b;
                }
            }
            ok!(sys::napi_create_typedarray(env, sys::TypedarrayType::uint8_array, items.len(), ab, 0, &mut out));
        }
        (Val::List(items), Plan::List(p)) => {
            ok!(sys::napi_create_array_with_length(env, items.len(), &mut out));
            for (i, item) in items.iter().enumerate() {
                ok!(sys::napi_set_element(env, out, i as u32, to_js(env, item, p)?));
            }
        }
        (Val::Tuple(items), Plan::Tuple(ps)) => {
            ok!(sys::napi_create_array_with_length(env, items.len(), &mut out));
            for (i, (item, p)) in items.iter().zip(ps).enumerate() {
                ok!(sys::napi_set_element(env, out, i as u32, to_js(env, item, p)?));
            }
        }
        (Val::Record(fields), Plan::Record(ps)) => {
            ok!(sys::napi_create_object(env, &mut out));
            for ((_, item), (_, js, p)) in fields.iter().zip(ps) {
                ok!(sys::napi_set_named_property(env, out, js.as_ptr(), to_js(env, item, p)?));
            }
        }
        (Val::Variant(case, payload), Plan::Variant(cases)) => {
            let p = cases.iter().find(|(n, _)| n == case).and_then(|(_, p)| p.as_ref());
            let val = match (payload, p) {
                (Some(v), Some(p)) => Some(to_js(env, v, p)?),
                _ => None,
            };
            return tagged(env, case, val);
        }
        (Val::Enum(case), _) => return str_js(env, case),
        (Val::Option(o), Plan::Option(p, nested)) => {
            return match (o, nested) {
                (None, false) => {
                    ok!(sys::napi_get_undefined(env, &mut out));
                    Ok(out)
                }
                (Some(v), false) => to_js(env, v, p),
                (None, true) => tagged(env, "none", None),
                (Some(v), true) => tagged(env, "some", Some(to_js(env, v, p)?)),
            };
        }
        (Val::Result(r), Plan::Result(okp, errp)) => {
            let (tag, v, p) = match r {
                Ok(v) => ("ok", v, okp),
                Err(v) => ("err", v, errp),
            };
            let val = match (v, p) {
                (Some(v), Some(p)) => Some(to_js(env, v, p)?),
                _ => None,
            };
            return tagged(env, tag, val);
        }
        (Val::Flags(set), Plan::Flags(names)) => {
            ok!(sys::napi_create_object(env, &mut out));
            for (wit, js) in names {
                let mut b = ptr::null_mut();
                ok!(sys::napi_get_boolean(env, set.iter().any(|s| s == wit), &mut b));
                ok!(sys::napi_set_named_property(env, out, js.as_ptr(), b));
            }
        }
        _ => return Err("a value of an unsupported kind".to_owned()),
    }
    Ok(out)
}

fn kind_name(t: i32) -> &'static str {
    use sys::ValueType as V;
    match t {
        V::napi_undefined => "undefined",
        V::napi_null => "null",
        V::napi_boolean => "a boolean",
        V::napi_number => "a number",
        V::napi_string => "a string",
        V::napi_symbol => "a symbol",
        V::napi_object => "an object",
        V::napi_function => "a function",
        V::napi_bigint => "a bigint",
        _ => "an unknown value",
    }
}

unsafe fn expect(env: sys::napi_env, v: sys::napi_value, want: i32, what: &str) -> Result<(), String> {
    let t = type_of(env, v);
    if t == want {
        Ok(())
    } else {
        Err(format!("expected {what}, got {}", kind_name(t)))
    }
}

unsafe fn number(env: sys::napi_env, v: sys::napi_value, what: &str) -> Result<f64, String> {
    expect(env, v, sys::ValueType::napi_number, what)?;
    let mut n = 0.0;
    ok!(sys::napi_get_value_double(env, v, &mut n));
    Ok(n)
}

unsafe fn int(env: sys::napi_env, v: sys::napi_value, min: f64, max: f64, what: &str) -> Result<f64, String> {
    let n = number(env, v, what)?;
    if n.fract() != 0.0 || !(min..=max).contains(&n) {
        return Err(format!("expected {what}, got {n}"));
    }
    Ok(n)
}

unsafe fn string(env: sys::napi_env, v: sys::napi_value) -> Result<String, String> {
    expect(env, v, sys::ValueType::napi_string, "a string")?;
    let mut len = 0usize;
    ok!(sys::napi_get_value_string_utf8(env, v, ptr::null_mut(), 0, &mut len));
    let mut buf = vec![0u8; len + 1];
    let mut got = 0usize;
    ok!(sys::napi_get_value_string_utf8(env, v, buf.as_mut_ptr().cast(), buf.len(), &mut got));
    buf.truncate(got);
    // V8 writes lone surrogates as U+FFFD, so this is valid UTF-8.
    String::from_utf8(buf).map_err(|_| "a string that is not valid Unicode".to_owned())
}

unsafe fn property(env: sys::napi_env, obj: sys::napi_value, name: &std::ffi::CStr) -> Result<sys::napi_value, String> {
    let mut out = ptr::null_mut();
    ok!(sys::napi_get_named_property(env, obj, name.as_ptr(), &mut out));
    Ok(out)
}

unsafe fn object(env: sys::napi_env, v: sys::napi_value, what: &str) -> Result<(), String> {
    expect(env, v, sys::ValueType::napi_object, what)
}

/// `{tag, val}`: the tag, and val's value.
unsafe fn tag_of(env: sys::napi_env, v: sys::napi_value, what: &str) -> Result<(String, sys::napi_value), String> {
    object(env, v, what)?;
    let tag = property(env, v, c"tag")?;
    if type_of(env, tag) != sys::ValueType::napi_string {
        return Err(format!("expected {what}, got an object without a string tag"));
    }
    Ok((string(env, tag)?, property(env, v, c"val")?))
}

/// Where a misfit is, below the value given (`.name`, `[2]`, built only on the way out of an error), and what it is.
pub struct Misfit {
    pub path: String,
    pub problem: String,
}

impl From<&str> for Misfit {
    fn from(problem: &str) -> Misfit {
        Misfit { path: String::new(), problem: problem.to_owned() }
    }
}

impl From<String> for Misfit {
    fn from(problem: String) -> Misfit {
        Misfit { path: String::new(), problem }
    }
}

/// Prefix a misfit's path with `segment` (the value it was found in).
fn under<T>(r: Result<T, Misfit>, segment: impl FnOnce() -> String) -> Result<T, Misfit> {
    r.map_err(|mut m| {
        m.path.insert_str(0, &segment());
        m
    })
}

/// A JS value as a `Val` of `plan`'s type; a misfit says where below `v` and what.
pub unsafe fn from_js(env: sys::napi_env, v: sys::napi_value, plan: &Plan) -> Result<Val, Misfit> {
    Ok(match plan {
        Plan::Bool => {
            expect(env, v, sys::ValueType::napi_boolean, "a boolean")?;
            let mut b = false;
            ok!(sys::napi_get_value_bool(env, v, &mut b));
            Val::Bool(b)
        }
        Plan::U8 => Val::U8(int(env, v, 0.0, 255.0, "a u8 (an integer 0..=255)")? as u8),
        Plan::U16 => Val::U16(int(env, v, 0.0, 65535.0, "a u16 (an integer 0..=65535)")? as u16),
        Plan::U32 => Val::U32(int(env, v, 0.0, 4294967295.0, "a u32 (an integer 0..=4294967295)")? as u32),
        Plan::S8 => Val::S8(int(env, v, -128.0, 127.0, "an s8 (an integer -128..=127)")? as i8),
        Plan::S16 => Val::S16(int(env, v, -32768.0, 32767.0, "an s16 (an integer -32768..=32767)")? as i16),
        Plan::S32 => Val::S32(int(env, v, -2147483648.0, 2147483647.0, "an s32 (an integer -2147483648..=2147483647)")? as i32),
        Plan::U64 => {
            expect(env, v, sys::ValueType::napi_bigint, "a u64 (a bigint)")?;
            let (mut n, mut lossless) = (0u64, false);
            ok!(sys::napi_get_value_bigint_uint64(env, v, &mut n, &mut lossless));
            if !lossless {
                return Err("expected a u64 (a bigint 0..2^64), got one out of range".into());
            }
            Val::U64(n)
        }
        Plan::S64 => {
            expect(env, v, sys::ValueType::napi_bigint, "an s64 (a bigint)")?;
            let (mut n, mut lossless) = (0i64, false);
            ok!(sys::napi_get_value_bigint_int64(env, v, &mut n, &mut lossless));
            if !lossless {
                return Err("expected an s64 (a bigint -2^63..2^63), got one out of range".into());
            }
            Val::S64(n)
        }
        Plan::F32 => Val::Float32(number(env, v, "an f32 (a number)")? as f32),
        Plan::F64 => Val::Float64(number(env, v, "an f64 (a number)")?),
        Plan::Char => {
            let s = string(env, v).map_err(|_| -> Misfit { format!("expected a char (a one-character string), got {}", kind_name(type_of(env, v))).into() })?;
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(format!("expected a char (one Unicode scalar value), got a string of {} characters", s.chars().count()).into()),
            }
        }
        Plan::String => Val::String(string(env, v)?),
        Plan::Bytes => {
            let mut is = false;
            ok!(sys::napi_is_typedarray(env, v, &mut is));
            if !is {
                return Err(format!("expected a list<u8> (a Uint8Array), got {}", kind_name(type_of(env, v))).into());
            }
            let (mut ty, mut len, mut data, mut ab, mut off) = (0, 0usize, ptr::null_mut(), ptr::null_mut(), 0usize);
            ok!(sys::napi_get_typedarray_info(env, v, &mut ty, &mut len, &mut data, &mut ab, &mut off));
            if ty != sys::TypedarrayType::uint8_array {
                return Err("expected a list<u8> (a Uint8Array), got another typed array".into());
            }
            let bytes = if len == 0 { &[][..] } else { std::slice::from_raw_parts(data.cast::<u8>(), len) };
            Val::List(bytes.iter().map(|b| Val::U8(*b)).collect())
        }
        Plan::List(p) => {
            let mut is = false;
            ok!(sys::napi_is_array(env, v, &mut is));
            if !is {
                return Err(format!("expected a list (an array), got {}", kind_name(type_of(env, v))).into());
            }
            let mut len = 0u32;
            ok!(sys::napi_get_array_length(env, v, &mut len));
            let mut out = Vec::with_capacity(len as usize);
            for i in 0..len {
                let mut item = ptr::null_mut();
                ok!(sys::napi_get_element(env, v, i, &mut item));
                out.push(under(from_js(env, item, p), || format!("[{i}]"))?);
            }
            Val::List(out)
        }
        Plan::Tuple(ps) => {
            let mut is = false;
            ok!(sys::napi_is_array(env, v, &mut is));
            let mut len = 0u32;
            if is {
                ok!(sys::napi_get_array_length(env, v, &mut len));
            }
            if !is || len as usize != ps.len() {
                return Err(format!("expected a tuple (an array of {})", ps.len()).into());
            }
            let mut out = Vec::with_capacity(ps.len());
            for (i, p) in ps.iter().enumerate() {
                let mut item = ptr::null_mut();
                ok!(sys::napi_get_element(env, v, i as u32, &mut item));
                out.push(under(from_js(env, item, p), || format!("[{i}]"))?);
            }
            Val::Tuple(out)
        }
        Plan::Record(fields) => {
            object(env, v, "a record (an object)")?;
            let mut out = Vec::with_capacity(fields.len());
            for (wit, js, p) in fields {
                let item = property(env, v, js)?;
                out.push((wit.clone(), under(from_js(env, item, p), || format!(".{}", js.to_str().unwrap_or(wit)))?));
            }
            Val::Record(out)
        }
        Plan::Variant(cases) => {
            let (tag, val) = tag_of(env, v, "a variant ({ tag, val })")?;
            let Some((name, p)) = cases.iter().find(|(n, _)| *n == tag) else {
                return Err(format!("unknown case {tag:?} (cases: {})", cases.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")).into());
            };
            let payload = match p {
                Some(p) => {
                    Some(Box::new(under(from_js(env, val, p), || ".val".to_owned())?))
                }
                None => None,
            };
            Val::Variant(name.clone(), payload)
        }
        Plan::Enum(cases) => {
            let s = string(env, v).map_err(|_| -> Misfit { format!("expected an enum case (a string), got {}", kind_name(type_of(env, v))).into() })?;
            if !cases.contains(&s) {
                return Err(format!("unknown case {s:?} (cases: {})", cases.join(", ")).into());
            }
            Val::Enum(s)
        }
        Plan::Option(p, nested) => {
            if *nested {
                let (tag, val) = tag_of(env, v, "an inner option ({ tag: \"some\", val } or { tag: \"none\" })")?;
                match tag.as_str() {
                    "none" => Val::Option(None),
                    "some" => {
                        Val::Option(Some(Box::new(under(from_js(env, val, p), || ".val".to_owned())?)))
                    }
                    _ => return Err(format!("unknown option tag {tag:?} (some, none)").into()),
                }
            } else {
                let t = type_of(env, v);
                if t == sys::ValueType::napi_undefined || t == sys::ValueType::napi_null {
                    Val::Option(None)
                } else {
                    Val::Option(Some(Box::new(from_js(env, v, p)?)))
                }
            }
        }
        Plan::Result(okp, errp) => {
            let (tag, val) = tag_of(env, v, "a result ({ tag: \"ok\" | \"err\", val })")?;
            let p = match tag.as_str() {
                "ok" => okp,
                "err" => errp,
                _ => return Err(format!("unknown result tag {tag:?} (ok, err)").into()),
            };
            let payload = match p {
                Some(p) => {
                    Some(Box::new(under(from_js(env, val, p), || ".val".to_owned())?))
                }
                None => None,
            };
            Val::Result(if tag == "ok" { Ok(payload) } else { Err(payload) })
        }
        Plan::Flags(names) => {
            object(env, v, "flags (an object of booleans)")?;
            let mut set = Vec::new();
            for (wit, js) in names {
                let f = property(env, v, js)?;
                match type_of(env, f) {
                    t if t == sys::ValueType::napi_undefined => {}
                    t if t == sys::ValueType::napi_boolean => {
                        let mut b = false;
                        ok!(sys::napi_get_value_bool(env, f, &mut b));
                        if b {
                            set.push(wit.clone());
                        }
                    }
                    t => return Err(format!("flag {}: expected a boolean, got {}", js.to_str().unwrap_or(wit), kind_name(t)).into()),
                }
            }
            Val::Flags(set)
        }
    })
}

/// The JS arguments of a typed export call (an array), checked and converted by the function's parameter types
/// on the JS thread, before the guest runs.
pub unsafe fn args_from_js(env: sys::napi_env, args: sys::napi_value, plan: &FnPlan) -> Result<Vec<Val>, IfaceFault> {
    let misfit = |path: String, problem: String| IfaceFault::Value { host: true, iface: plan.iface.clone(), func: plan.name.clone(), path, problem };
    let mut is = false;
    sys::napi_is_array(env, args, &mut is);
    let mut len = 0u32;
    if is {
        sys::napi_get_array_length(env, args, &mut len);
    }
    if !is || len as usize != plan.params.len() {
        return Err(misfit(String::new(), format!("expected {} argument(s), got {}", plan.params.len(), len)));
    }
    let mut out = Vec::with_capacity(plan.params.len());
    for (i, (_, js, p)) in plan.params.iter().enumerate() {
        let mut item = ptr::null_mut();
        sys::napi_get_element(env, args, i as u32, &mut item);
        match from_js(env, item, p) {
            Ok(v) => out.push(v),
            Err(m) => return Err(misfit(format!("{js}{}", m.path), m.problem)),
        }
    }
    Ok(out)
}

/// A placeholder of the right shape for a result slot (`Func::call` overwrites it).
pub fn result_slots(plan: &FnPlan) -> Vec<Val> {
    if plan.result.is_some() {
        vec![Val::Bool(false)]
    } else {
        Vec::new()
    }
}

/// A typed export's result, made into a JS value on the JS thread (undefined when the function returns nothing).
pub struct ExportValue(pub Option<Val>, pub Arc<FnPlan>);

impl napi::bindgen_prelude::ToNapiValue for ExportValue {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match (&val.0, &val.1.result) {
            (Some(v), Some(p)) => to_js(env, v, p).map_err(napi::Error::from_reason),
            _ => {
                let mut out = ptr::null_mut();
                sys::napi_get_undefined(env, &mut out);
                Ok(out)
            }
        }
    }
}

impl napi::bindgen_prelude::TypeName for ExportValue {
    fn type_name() -> &'static str {
        "unknown"
    }
    fn value_type() -> napi::ValueType {
        napi::ValueType::Unknown
    }
}

// ── naming the import a bad guest value was passed to

/// Which imported functions wit-component reaches through a shim: those whose lowering needs canonical options
/// (memory, realloc), by (instance, function). A bad guest value is refused while lifting, before any host function
/// runs, so the backtrace's innermost frame is the shim function: its index counts the guest module's shimmed imports
/// in their import order (wit-component's `Shims`), which names the import.
pub struct ImportShims {
    needs_options: HashMap<(String, String), bool>,
}

fn flat(t: &Type) -> usize {
    match t {
        Type::String | Type::List(_) => 2,
        Type::Record(r) => r.fields().map(|f| flat(&f.ty)).sum(),
        Type::Tuple(t) => t.types().map(|t| flat(&t)).sum(),
        Type::Variant(v) => 1 + v.cases().map(|c| c.ty.as_ref().map_or(0, flat)).max().unwrap_or(0),
        Type::Option(o) => 1 + flat(&o.ty()),
        Type::Result(r) => 1 + r.ok().as_ref().map_or(0, flat).max(r.err().as_ref().map_or(0, flat)),
        Type::Flags(f) => f.names().len().div_ceil(32),
        _ => 1,
    }
}

fn has_pointers(t: &Type) -> bool {
    match t {
        Type::String | Type::List(_) => true,
        Type::Record(r) => r.fields().any(|f| has_pointers(&f.ty)),
        Type::Tuple(t) => t.types().any(|t| has_pointers(&t)),
        Type::Variant(v) => v.cases().any(|c| c.ty.as_ref().is_some_and(has_pointers)),
        Type::Option(o) => has_pointers(&o.ty()),
        Type::Result(r) => r.ok().as_ref().is_some_and(has_pointers) || r.err().as_ref().is_some_and(has_pointers),
        _ => false,
    }
}

impl ImportShims {
    pub fn of(component: &Component) -> ImportShims {
        let engine = crate::engine::engine();
        let mut needs_options = HashMap::new();
        for (iface, item) in component.component_type().imports(engine) {
            let ComponentItem::ComponentInstance(inst) = item.ty else { continue };
            for (name, item) in inst.exports(engine) {
                let ComponentItem::ComponentFunc(f) = item.ty else { continue };
                let params: Vec<Type> = f.params().map(|(_, t)| t).collect();
                let results: Vec<Type> = f.results().collect();
                let needs = params.iter().chain(&results).any(has_pointers)
                    || params.iter().map(flat).sum::<usize>() > 16
                    || results.iter().map(flat).sum::<usize>() > 1;
                needs_options.insert((iface.to_owned(), name.to_owned()), needs);
            }
        }
        ImportShims { needs_options }
    }

    /// The (interface, function) of shim function `shim` of a guest module importing `imports` (module, name), in
    /// order; None when it does not resolve to a known import.
    pub fn name<'a>(&self, imports: impl Iterator<Item = (&'a str, &'a str)>, shim: u32) -> Option<(String, String)> {
        let mut at = 0u32;
        for (module, name) in imports {
            let shimmed = match self.needs_options.get(&(module.to_owned(), name.to_owned())) {
                Some(needs) => *needs,
                // The WASI adapter's functions are shimmed too (it is instantiated after the module).
                None => module == "wasi_snapshot_preview1",
            };
            if !shimmed {
                continue;
            }
            if at == shim {
                return self.needs_options.contains_key(&(module.to_owned(), name.to_owned())).then(|| (module.to_owned(), name.to_owned()));
            }
            at += 1;
        }
        None
    }
}
