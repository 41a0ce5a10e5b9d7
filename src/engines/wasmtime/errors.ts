/**
 * Native errors to the typed errors of src/contract/errors.ts. The addon reports
 * failures as `PWT:<kind>:<number>:<detail>` (native/wasmtime/src/fault.rs);
 * this adds the plugin's name and the export that was running.
 */
import {
  AbiViolation,
  ContextCreationFailed,
  DeadlineExceeded,
  FuelExhausted,
  InterfaceUnavailable,
  InterfaceValueError,
  InvalidPluginBinary,
  MemoryLimitExceeded,
  MissingImportError,
  PluginExited,
  PluginNotRunning,
  PluginTrap,
  PlughostError,
  ReentrancyError,
  TableLimitExceeded,
} from "../../contract/errors.js";

export interface ErrorScope {
  plugin: string;
  file: string;
  /** The export running when it failed (`instantiate` during load). */
  export: string;
  /** The error a host function threw during the call, if one did. */
  hostError?: unknown;
  /** During a typed export call: its interface (versioned id) and WIT function name. */
  iface?: string;
  fn?: string;
}

/** An app-interface value fault's detail (iface.rs `IfaceFault::detail`): iface, fn, path, problem; blanks from the scope. */
function valueError(detail: string, side: "guest" | "host", scope: ErrorScope): InterfaceValueError {
  const [iface = "", fn = "", path = "", problem = detail] = detail.split("\u001f");
  return new InterfaceValueError(iface || scope.iface || "?", fn || scope.fn || "?", path, side, problem, { plugin: scope.plugin });
}

const PATTERN = /^PWT:([a-z]+):([^:]*):([\s\S]*)$/;

export function mapNativeError(err: unknown, scope: ErrorScope): PlughostError {
  if (err instanceof PlughostError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const m = PATTERN.exec(message);
  const details = { plugin: scope.plugin, cause: err };
  if (!m) return new PluginTrap(scope.export, `wasmtime: ${message}`, details);
  const [, kind, num, detail] = m as unknown as [string, string, string, string];
  const n = Number(num);
  switch (kind) {
    case "invalid":
      return new InvalidPluginBinary(scope.file, detail, details);
    case "missing":
      return new MissingImportError([detail], "the host does not provide it", details);
    case "load":
      return new ContextCreationFailed(`instantiating the component failed: ${detail}`, details);
    case "trap": {
      const trap = new PluginTrap(scope.export, detail, details);
      const dump = / \(core dump: (.+)\)$/.exec(detail);
      if (dump) trap.coreDump = dump[1];
      return trap;
    }
    case "fuel":
      return new FuelExhausted(scope.export, n, details);
    case "deadline":
      return new DeadlineExceeded(scope.export, n, details);
    case "memory":
      return new MemoryLimitExceeded(scope.export, n, details);
    case "table":
      return new TableLimitExceeded(scope.export, n, details);
    case "exit":
      return new PluginExited(scope.export, n, details);
    case "abi":
      return new AbiViolation(scope.export, detail, details);
    case "ifacevalue":
      // A typed export's argument, refused before the guest ran: the instance is fine.
      return valueError(detail, "host", scope);
    case "ifacehost": {
      const cause = valueError(detail, "host", scope);
      return new PluginTrap(scope.export, `the host's implementation returned a value that does not fit: ${cause.message}`, { plugin: scope.plugin, cause });
    }
    case "ifaceguest": {
      const cause = valueError(detail, "guest", scope);
      return new AbiViolation(scope.export, `it passed a value that does not fit: ${cause.message}`, { plugin: scope.plugin, cause });
    }
    case "host": {
      const cause = scope.hostError ?? err;
      if (cause instanceof InterfaceUnavailable) {
        return new PluginTrap(scope.export, `an app interface could not answer: ${cause.message}`, { plugin: scope.plugin, cause });
      }
      const why = cause instanceof Error ? cause.message : detail;
      return new PluginTrap(scope.export, `a host function threw: ${why}`, { plugin: scope.plugin, cause });
    }
    case "busy":
      return new ReentrancyError(scope.export, details);
    case "poisoned":
      return new PluginTrap(scope.export, `the instance is unusable: ${detail}`, details);
    case "disposed":
      return new PluginNotRunning("disposed", details);
    default:
      return new PluginTrap(scope.export, `wasmtime: ${message}`, details);
  }
}
