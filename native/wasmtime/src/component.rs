//! A compiled component as a JS object (`NativeComponent`), and compiling and
//! instantiating it off the JS thread, on threads of plughost's own (not
//! libuv's pool, which the host's file I/O needs). Instantiation runs on the
//! thread that then serves the instance's calls (`instance::serve`).

use crate::cache::{self, Source};
use crate::calls::{Live, STATE_LEN};
use crate::fault::Fault;
use crate::host::{HostArgs, HostBridge, HostReply, Plugin, PluginPre, Route};
use crate::limits::LimitSpec;
use crate::output::{LogShared, SharedLog};
use crate::store::{self, StoreData};
use crate::wasi::WasiGrant;
use crate::iface::{AppSurface, IfaceBridge};
use crate::instance::{self, Control, NativeInstance, StateArray};
use napi::bindgen_prelude::{Float64Array, Function, Object, Uint8Array, Unknown};
use napi::{Env, Result};
use napi_derive::napi;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc, Mutex};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

pub struct CompiledInner {
    component: Component,
    pres: Mutex<HashMap<u8, PluginPre<StoreData>>>,
    /// Its app-interface functions (iface.rs), or why they cannot be used (a resource, a stream…).
    surface: std::result::Result<AppSurface, String>,
    /// Which of its imports wit-component shims (iface.rs, to name a bad guest value's import).
    shims: Arc<crate::iface::ImportShims>,
}

/// One function of an app interface a component imports or exports.
#[napi(object)]
pub struct AppFunction {
    /// The versioned interface id, as the component names it (`acme:app/calc@1.0.0`).
    pub iface: String,
    /// The WIT function name.
    pub name: String,
}

#[napi]
pub struct NativeComponent {
    inner: Arc<CompiledInner>,
    source: Source,
}

type Resolver<T> = Box<dyn FnOnce(Env) -> Result<T> + Send>;

fn thread_failed(e: std::io::Error) -> napi::Error {
    Fault::Load(format!("could not start a thread: {e}")).to_napi()
}

/// Compile a component (or fetch it from the in-memory or disk cache; `key`
/// seals the disk cache's artifacts, see `cache.rs`).
#[napi(ts_return_type = "Promise<NativeComponent>")]
pub fn compile<'e>(env: &'e Env, bytes: &[u8], cache_dir: Option<String>, key: Option<Uint8Array>) -> Result<Object<'e>> {
    let (deferred, promise) = env.create_deferred::<NativeComponent, Resolver<NativeComponent>>()?;
    let bytes = bytes.to_vec();
    let cache_dir = cache_dir.map(PathBuf::from);
    let key = key.map(|k| k.to_vec());
    instance::spawn("plughost-compile", move || match cache::load(&bytes, cache_dir.as_deref(), key.as_deref()) {
        Ok((component, source, digest)) => {
            let inner = shared_inner(component, digest);
            deferred.resolve(Box::new(move |_| Ok(NativeComponent { inner, source })))
        }
        Err(f) => deferred.reject(f.to_napi()),
    })
    .map_err(thread_failed)?;
    Ok(promise)
}

/// Per-component state shared by every load of the same bytes while one of them is alive, by sha256: the linked
/// `InstancePre`s, the app surface and the shim table are the same for every copy, and building them per load cost
/// each extra instance of a plugin tens of KiB. Only immutable, per-component data is shared; each instance still
/// gets its own store, instance and linear memory.
static INNERS: std::sync::OnceLock<Mutex<HashMap<[u8; 32], std::sync::Weak<CompiledInner>>>> = std::sync::OnceLock::new();

fn shared_inner(component: Component, digest: [u8; 32]) -> Arc<CompiledInner> {
    let inners = INNERS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(inner) = inners.lock().unwrap_or_else(|e| e.into_inner()).get(&digest).and_then(std::sync::Weak::upgrade) {
        return inner;
    }
    // Built outside the lock: two first loads of the same bytes may both build, and the later one is kept.
    let surface = AppSurface::of(&component);
    let shims = Arc::new(crate::iface::ImportShims::of(&component));
    let inner = Arc::new(CompiledInner { component, pres: Mutex::new(HashMap::new()), surface, shims });
    let mut map = inners.lock().unwrap_or_else(|e| e.into_inner());
    // Dead entries go when the map would grow, so it stays as large as the set of live components.
    if map.len() >= 64 {
        map.retain(|_, w| w.strong_count() > 0);
    }
    map.insert(digest, Arc::downgrade(&inner));
    inner
}

/// A granted directory.
#[napi(object)]
pub struct DirGrant {
    pub path: String,
    pub writable: bool,
}

/// Everything instantiation needs besides the component.
#[napi(object)]
pub struct InstantiateOptions {
    pub fuel: Option<f64>,
    pub fuel_lifetime: Option<f64>,
    pub memory_bytes: Option<f64>,
    pub table_elements: Option<f64>,
    pub deadline_ms: Option<f64>,
    /// `limits.openFiles`, `limits.connections`, `limits.fsWriteBytes` (wasi.rs `ResourceLedger`).
    pub open_files: Option<f64>,
    pub connections: Option<f64>,
    pub fs_write_bytes: Option<f64>,
    pub stdio: bool,
    pub clock: bool,
    pub random: bool,
    /// `[name, value]` pairs.
    pub env: Vec<Vec<String>>,
    pub dirs: Vec<DirGrant>,
    pub net: Vec<String>,
    /// The host's largest emit/send payload (`HostCallBounds.maxMessageBytes`); larger is refused unread.
    pub max_message_bytes: Option<f64>,
    /// Which optional state / context members the host has: bit n for dispatcher op 10 + n (`stateGet` … `contextSet`).
    pub state_members: Option<u32>,
    /// Where a trap's Wasm core dump is written (`RegistryOptions.coreDumpDir`); none when unset.
    pub core_dump_dir: Option<String>,
    /// The plugin's name: the dump's name and its file name's start.
    pub core_dump_name: Option<String>,
}

/// `DEFAULT_HOST_CALL_OPTIONS.maxMessageBytes` (src/host-calls.ts), for a caller that passes none.
const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

fn count(v: Option<f64>) -> Option<u64> {
    v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u64)
}

#[napi]
impl NativeComponent {
    /// Where the compiled code came from: "memory", "disk" or "compiled".
    #[napi(getter)]
    pub fn source(&self) -> String {
        self.source.as_str().to_owned()
    }

    /// Imported instance names, versioned (e.g. `wasi:cli/stdout@0.2.6`).
    #[napi]
    pub fn imports(&self) -> Vec<String> {
        let ty = self.inner.component.component_type();
        ty.imports(crate::engine::engine()).map(|(name, _)| name.to_owned()).collect()
    }

    /// Exported instance names.
    #[napi]
    pub fn exports(&self) -> Vec<String> {
        let ty = self.inner.component.component_type();
        ty.exports(crate::engine::engine())
            .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The app-interface functions the component imports, in the order the interface dispatcher's index counts
    /// them (`instantiate`'s `ifaceDispatcher`). Throws when an app interface uses what plughost cannot pass.
    #[napi]
    pub fn app_imports(&self) -> Result<Vec<AppFunction>> {
        Ok(self.surface()?.imports.iter().map(|p| AppFunction { iface: p.iface.clone(), name: p.name.clone() }).collect())
    }

    /// The app-interface functions the component exports, in the order `callExport`'s index counts them.
    #[napi]
    pub fn app_exports(&self) -> Result<Vec<AppFunction>> {
        Ok(self.surface()?.exports.iter().map(|p| AppFunction { iface: p.iface.clone(), name: p.name.clone() }).collect())
    }

    fn surface(&self) -> Result<&AppSurface> {
        self.inner.surface.as_ref().map_err(|why| Fault::Invalid(why.clone()).to_napi())
    }

    /// Create a store and instantiate the component in it, on the thread
    /// that will then run the instance's calls. `state` is a Float64Array
    /// over its own ArrayBuffer (the addon writes fuel figures into it).
    #[napi(ts_return_type = "Promise<NativeInstance>")]
    pub fn instantiate<'e>(
        &self,
        env: &'e Env,
        options: InstantiateOptions,
        dispatcher: Function<HostArgs, HostReply>,
        state: Float64Array,
        iface_dispatcher: Option<Function<Unknown<'static>, Unknown<'static>>>,
        iface_direct: Option<Vec<Function<Unknown<'static>, Unknown<'static>>>>,
    ) -> Result<Object<'e>> {
        let surface = self.surface()?;
        let (app_imports, app_exports) = (surface.imports.clone(), surface.exports.clone());
        let iface = match (&iface_dispatcher, app_imports.is_empty()) {
            (Some(f), false) => {
                let direct = iface_direct.unwrap_or_default();
                if direct.len() != app_imports.len() {
                    return Err(Fault::Load(format!("{} direct interface dispatchers for {} imported functions", direct.len(), app_imports.len())).to_napi());
                }
                Some(IfaceBridge::new(f, &direct, self.inner.shims.clone())?)
            }
            (None, false) => return Err(Fault::Load("the component imports app interfaces and no interface dispatcher was given".into()).to_napi()),
            _ => None,
        };
        if state.len() < STATE_LEN {
            return Err(napi::Error::from_reason(format!("PWT:load:0:state array needs {STATE_LEN} cells")));
        }
        let direct = dispatcher.create_ref()?;
        // Weak: an idle instance does not keep the event loop alive.
        let threaded = dispatcher.build_threadsafe_function::<HostArgs>().weak::<true>().callee_handled::<false>().build()?;
        let log: SharedLog = Arc::new(LogShared::default());
        let limits = LimitSpec {
            fuel: count(options.fuel),
            fuel_lifetime: count(options.fuel_lifetime),
            memory_bytes: count(options.memory_bytes),
            table_elements: count(options.table_elements),
            open_files: count(options.open_files),
            connections: count(options.connections),
            fs_write_bytes: count(options.fs_write_bytes),
            deadline_ms: options.deadline_ms.filter(|x| x.is_finite() && *x >= 0.0),
        };
        let grant = WasiGrant {
            stdio: options.stdio,
            clock: options.clock,
            random: options.random,
            env: options.env.into_iter().filter_map(|kv| match kv.as_slice() {
                [k, v] => Some((k.clone(), v.clone())),
                _ => None,
            }).collect(),
            dirs: options.dirs.into_iter().map(|d| (d.path, d.writable)).collect(),
            net: options.net,
        };
        let (deferred, promise) = env.create_deferred::<NativeInstance, Resolver<NativeInstance>>()?;
        let state = Arc::new(StateArray::new(state));
        let inner = self.inner.clone();
        let guest = self.exports().into_iter().find(|e| e.starts_with("plughost:plugin/guest")).unwrap_or_default();
        // The optional lifecycle interface; empty when the component does not export it.
        let exports = self.exports();
        let optional = |prefix: &str| exports.iter().find(|e| e.starts_with(prefix)).cloned().unwrap_or_default();
        let lifecycle = optional("plughost:plugin/lifecycle");
        // The optional config-watch and handoff interfaces, likewise.
        let config_watch = optional("plughost:plugin/config-watch");
        let handoff = optional("plughost:plugin/handoff");
        let max_message = count(options.max_message_bytes).map_or(DEFAULT_MAX_MESSAGE_BYTES, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut bridge = HostBridge::new(direct, threaded, log.clone(), max_message);
        bridge.state_members = options.state_members.unwrap_or(0);
        let core_dumps = options.core_dump_dir.map(|dir| crate::calls::CoreDumps {
            dir: std::path::PathBuf::from(dir),
            name: options.core_dump_name.unwrap_or_else(|| "plugin".to_owned()),
        });
        instance::spawn("plughost-call", move || {
            let stop = Arc::new(AtomicBool::new(false));
            let profile = Arc::new(crate::profile::ProfileSlot::new(inner.component.clone()));
            // Called through a box so that instantiation's frames are not inlined into this one, which stays on
            // the stack below `serve` for the thread's life (an idle instance then holds fewer stack pages).
            let build: Box<dyn FnOnce() -> std::result::Result<Live, Fault> + '_> = Box::new(|| -> std::result::Result<Live, Fault> {
                let pre = store::instance_pre(&inner.component, &grant, &app_imports, &inner.pres)?;
                let data = store::new_data(&grant, &limits, bridge, stop.clone(), profile.clone(), iface)?;
                let mut live = Live::new(store::new_store(data), &limits);
                live.core_dumps = core_dumps;
                let (plugin, hook, suspend, resume, optional) = live.run("instantiate", Route::Threaded(None), state.cell, |s, _, _| {
                    use crate::calls::{lifecycle_export, optional_export};
                    let instance = pre.instance_pre().instantiate(&mut *s)?;
                    let plugin = Plugin::new(&mut *s, &instance)?;
                    let hook = crate::calls::hook_export(&mut *s, &instance, &guest)?;
                    let suspend = lifecycle_export(&mut *s, &instance, &lifecycle, "on-suspend")?;
                    let resume = lifecycle_export(&mut *s, &instance, &lifecycle, "on-resume")?;
                    let changed = optional_export::<(&str,), (i32,)>(&mut *s, &instance, &config_watch, "on-config-changed")?;
                    let snapshot = optional_export::<(), (Vec<u8>,)>(&mut *s, &instance, &handoff, "snapshot")?;
                    let restore = optional_export::<(&[u8],), (i32,)>(&mut *s, &instance, &handoff, "restore")?;
                    let exports = crate::calls::app_exports(&mut *s, &instance, &app_exports)?;
                    Ok((plugin, hook, suspend, resume, (changed, snapshot, restore, exports)))
                })?;
                live.plugin = Some(plugin);
                live.on_hook = Some(hook);
                live.on_suspend = suspend;
                live.on_resume = resume;
                (live.on_config_changed, live.snapshot, live.restore, live.exports) = optional;
                Ok(live)
            });
            let built = std::hint::black_box(build)();
            match built {
                Err(f) => deferred.reject(f.to_napi()),
                Ok(live) => {
                    let optional = instance::OptionalExports {
                        on_suspend: live.on_suspend.is_some(),
                        on_resume: live.on_resume.is_some(),
                        on_config_changed: live.on_config_changed.is_some(),
                        snapshot: live.snapshot.is_some(),
                        restore: live.restore.is_some(),
                    };
                    let live = Arc::new(Mutex::new(Some(live)));
                    let control = Arc::new(Control::new(stop));
                    let (jobs, rx) = mpsc::channel();
                    let (l, c, st) = (live.clone(), control.clone(), state.clone());
                    deferred.resolve(Box::new(move |_| Ok(NativeInstance::new(l, c, jobs, log, st, optional, profile, app_exports))));
                    instance::serve(rx, live, control, state);
                }
            }
        })
        .map_err(thread_failed)?;
        Ok(promise)
    }
}
