/**
 * The native engine: legacy C-ABI plugins (`.so`, seed 000). The trust level
 * picks the strategy:
 *   trusted   → in this process, through the node-api addon (native-inprocess)
 *   untrusted → in a sandboxed helper process, one per plugin (native-sandbox)
 * Untrusted is the default. The engine runs what it is given; the registry
 * passes "trusted" only when the host approved the plugin (`trustedNative`,
 * src/runtime/policy.ts), never on the manifest's word alone.
 */
import type { Engine, EngineInstance, LoadRequest } from "../engine.js";
import { NativeInProcessInstance, openInProcess } from "./inprocess.js";
import { NativeSandboxInstance, SandboxClient, checkSandboxCapabilities, type SandboxOptions } from "./sandbox/host.js";
import { privateCopy } from "./shared.js";

export interface NativeEngineOptions {
  sandbox?: SandboxOptions;
}

export function createNativeEngine(options: NativeEngineOptions = {}): Engine {
  return {
    name: "native",
    async load(request: LoadRequest): Promise<EngineInstance> {
      const { file, cleanup } = await privateCopy(request.entryPath, request.bytes);
      try {
        if (request.trust === "trusted") return openInProcess(request, file);
        checkSandboxCapabilities(request);
        const { client, info } = await SandboxClient.start(request, file, options.sandbox);
        return new NativeSandboxInstance(request, client, info);
      } finally {
        await cleanup(); // the library is mapped (or failed); the private copy can go
      }
    },
  };
}

export const nativeEngine: Engine = createNativeEngine();

export { NativeInProcessInstance, NativeSandboxInstance, SandboxClient };
export type { SandboxOptions };
export { loadAddon } from "./inprocess.js";
