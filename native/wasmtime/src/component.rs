//! A compiled component as a JS object (`NativeComponent`), and the tasks
//! that compile and instantiate it off the JS thread.

use crate::cache::{self, Source};
use crate::calls::{Live, StateCell, STATE_LEN};
use crate::fault::Fault;
use crate::host::{HostArgs, HostBridge, HostReply, PluginPre, Route};
use crate::instance::NativeInstance;
use crate::limits::LimitSpec;
use crate::output::{LogShared, SharedLog};
use crate::store::{self, StoreData};
use crate::wasi::WasiGrant;
use napi::bindgen_prelude::{AsyncTask, Float64Array, Function};
use napi::{Env, Result, Task};
use napi_derive::napi;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

pub struct CompiledInner {
    component: Component,
    pres: Mutex<HashMap<u8, PluginPre<StoreData>>>,
}

#[napi]
pub struct NativeComponent {
    inner: Arc<CompiledInner>,
    source: Source,
}

pub struct CompileTask {
    bytes: Vec<u8>,
    cache_dir: Option<PathBuf>,
}

impl Task for CompileTask {
    type Output = (Component, Source);
    type JsValue = NativeComponent;

    fn compute(&mut self) -> Result<Self::Output> {
        cache::load(&self.bytes, self.cache_dir.as_deref()).map_err(|f| f.to_napi())
    }

    fn resolve(&mut self, _env: Env, (component, source): Self::Output) -> Result<NativeComponent> {
        Ok(NativeComponent { inner: Arc::new(CompiledInner { component, pres: Mutex::new(HashMap::new()) }), source })
    }
}

/// Compile a component (or fetch it from the in-memory or disk cache).
#[napi]
pub fn compile(bytes: &[u8], cache_dir: Option<String>) -> AsyncTask<CompileTask> {
    AsyncTask::new(CompileTask { bytes: bytes.to_vec(), cache_dir: cache_dir.map(PathBuf::from) })
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
    pub stdio: bool,
    pub clock: bool,
    pub random: bool,
    /// `[name, value]` pairs.
    pub env: Vec<Vec<String>>,
    pub dirs: Vec<DirGrant>,
    pub net: Vec<String>,
}

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

    /// Create a store and instantiate the component in it, off the JS thread.
    /// `state` is a Float64Array over its own ArrayBuffer that the caller
    /// keeps alive as long as the instance.
    #[napi]
    pub fn instantiate(
        &self,
        options: InstantiateOptions,
        dispatcher: Function<HostArgs, HostReply>,
        mut state: Float64Array,
    ) -> Result<AsyncTask<InstantiateTask>> {
        if state.len() < STATE_LEN {
            return Err(napi::Error::from_reason(format!("PWT:load:0:state array needs {STATE_LEN} cells")));
        }
        let direct = dispatcher.create_ref()?;
        let threaded = dispatcher.build_threadsafe_function::<HostArgs>().weak::<true>().callee_handled::<false>().build()?;
        let log: SharedLog = Arc::new(LogShared::default());
        let limits = LimitSpec {
            fuel: count(options.fuel),
            fuel_lifetime: count(options.fuel_lifetime),
            memory_bytes: count(options.memory_bytes),
            table_elements: count(options.table_elements),
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
        Ok(AsyncTask::new(InstantiateTask {
            inner: self.inner.clone(),
            grant,
            limits,
            bridge: Some(HostBridge::new(direct, threaded, log.clone())),
            log,
            // SAFETY: the array is kept (and so its buffer pinned) by the instance.
            cell: StateCell(unsafe { state.as_mut().as_mut_ptr() }),
            state: Some(state),
        }))
    }
}

pub struct InstantiateTask {
    inner: Arc<CompiledInner>,
    grant: WasiGrant,
    limits: LimitSpec,
    bridge: Option<HostBridge>,
    log: SharedLog,
    cell: StateCell,
    state: Option<Float64Array>,
}

impl Task for InstantiateTask {
    type Output = Live;
    type JsValue = NativeInstance;

    fn compute(&mut self) -> Result<Live> {
        let mut run = || -> std::result::Result<Live, Fault> {
            let pre = store::instance_pre(&self.inner.component, &self.grant, &self.inner.pres)?;
            let bridge = self.bridge.take().ok_or(Fault::Disposed)?;
            let data = store::new_data(&self.grant, &self.limits, bridge)?;
            let mut live = Live::new(store::new_store(data), &self.limits);
            let plugin = live.run(Route::Threaded(None), self.cell, |s, _| pre.instantiate(s))?;
            live.plugin = Some(plugin);
            Ok(live)
        };
        run().map_err(|f| f.to_napi())
    }

    fn resolve(&mut self, _env: Env, live: Live) -> Result<NativeInstance> {
        Ok(NativeInstance::new(live, self.log.clone(), self.cell, self.state.take()))
    }
}
