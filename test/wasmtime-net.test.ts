// `net:outbound:*.domain` on the wasmtime engine: a wildcard cannot be checked
// against a socket address, so the addon guards name lookups instead (as the
// v8 engine does): only names a grant covers may be looked up, and the
// addresses a lookup returned become connectable on that grant's port. The
// guest here is built from test/fixtures/wasmtime/plugin.wat with raw
// wasi:sockets imports: it looks up a name, then connects to its first IPv4
// address.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wasmtimeEngine } from "../src/engines/wasmtime/engine.js";
import { RecordingHost } from "./fixtures/wasmtime/helpers.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");

// wasi:sockets@0.2.0, only what the guest uses (the error-code enum in full: its cases are its type).
const WIT = `
package wasi:io@0.2.0 {
  interface error { resource error; }
  interface poll { resource pollable { block: func(); } }
  interface streams { resource input-stream; resource output-stream; }
}
package wasi:sockets@0.2.0 {
  interface network {
    resource network;
    enum error-code { unknown, access-denied, not-supported, invalid-argument, out-of-memory, timeout, concurrency-conflict,
      not-in-progress, would-block, invalid-state, new-socket-limit, address-not-bindable, address-in-use, remote-unreachable,
      connection-refused, connection-reset, connection-aborted, datagram-too-large, name-unresolvable,
      temporary-resolver-failure, permanent-resolver-failure }
    enum ip-address-family { ipv4, ipv6 }
    type ipv4-address = tuple<u8, u8, u8, u8>;
    type ipv6-address = tuple<u16, u16, u16, u16, u16, u16, u16, u16>;
    variant ip-address { ipv4(ipv4-address), ipv6(ipv6-address) }
    record ipv4-socket-address { port: u16, address: ipv4-address }
    record ipv6-socket-address { port: u16, flow-info: u32, address: ipv6-address, scope-id: u32 }
    variant ip-socket-address { ipv4(ipv4-socket-address), ipv6(ipv6-socket-address) }
  }
  interface instance-network { use network.{network}; instance-network: func() -> network; }
  interface ip-name-lookup {
    use wasi:io/poll@0.2.0.{pollable};
    use network.{network, error-code, ip-address};
    resolve-addresses: func(network: borrow<network>, name: string) -> result<resolve-address-stream, error-code>;
    resource resolve-address-stream {
      resolve-next-address: func() -> result<option<ip-address>, error-code>;
      subscribe: func() -> pollable;
    }
  }
  interface tcp {
    use wasi:io/streams@0.2.0.{input-stream, output-stream};
    use wasi:io/poll@0.2.0.{pollable};
    use network.{network, error-code, ip-socket-address};
    resource tcp-socket {
      start-connect: func(network: borrow<network>, remote-address: ip-socket-address) -> result<_, error-code>;
      finish-connect: func() -> result<tuple<input-stream, output-stream>, error-code>;
      subscribe: func() -> pollable;
    }
  }
  interface tcp-create-socket {
    use network.{error-code, ip-address-family};
    use tcp.{tcp-socket};
    create-tcp-socket: func(address-family: ip-address-family) -> result<tcp-socket, error-code>;
  }
}`;

const WORLD = [
  "import wasi:sockets/instance-network@0.2.0;",
  "import wasi:sockets/ip-name-lookup@0.2.0;",
  "import wasi:sockets/tcp-create-socket@0.2.0;",
  "import wasi:sockets/tcp@0.2.0;",
].join("\n  ");

const IMPORTS = `
  (import "wasi:sockets/instance-network@0.2.0" "instance-network" (func $net (result i32)))
  (import "wasi:sockets/ip-name-lookup@0.2.0" "resolve-addresses" (func $resolve (param i32 i32 i32 i32)))
  (import "wasi:sockets/ip-name-lookup@0.2.0" "[method]resolve-address-stream.resolve-next-address" (func $next (param i32 i32)))
  (import "wasi:sockets/ip-name-lookup@0.2.0" "[method]resolve-address-stream.subscribe" (func $rsub (param i32) (result i32)))
  (import "wasi:io/poll@0.2.0" "[method]pollable.block" (func $block (param i32)))
  (import "wasi:io/poll@0.2.0" "[resource-drop]pollable" (func $pdrop (param i32)))
  (import "wasi:sockets/tcp-create-socket@0.2.0" "create-tcp-socket" (func $socket (param i32 i32)))
  (import "wasi:sockets/tcp@0.2.0" "[method]tcp-socket.start-connect"
    (func $connect (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "wasi:sockets/tcp@0.2.0" "[method]tcp-socket.finish-connect" (func $finish (param i32 i32)))
  (import "wasi:sockets/tcp@0.2.0" "[method]tcp-socket.subscribe" (func $tsub (param i32) (result i32)))`;

// data = u16 LE port, then the name. Returns 0 when connected; -1 - code when the
// lookup is refused; -50 with no IPv4 address; -100 - code / -200 - code when
// start-connect / finish-connect fail (error-code: 1 access-denied, 8 would-block).
const EXTRA = `
  (func $wait (param $p i32) (call $block (local.get $p)) (call $pdrop (local.get $p)))
  (func $extra (param $d i32) (param $dn i32) (result i32) (local $net i32) (local $s i32) (local $sock i32)
    (local.set $net (call $net))
    (call $resolve (local.get $net) (i32.add (local.get $d) (i32.const 2)) (i32.sub (local.get $dn) (i32.const 2)) (i32.const 1024))
    (if (i32.load8_u (i32.const 1024)) (then (return (i32.sub (i32.const -1) (i32.load8_u (i32.const 1028))))))
    (local.set $s (i32.load (i32.const 1028)))
    (block $found
      (loop $more
        (call $next (local.get $s) (i32.const 1100))
        (if (i32.load8_u (i32.const 1100))
          (then
            (if (i32.ne (i32.load8_u (i32.const 1102)) (i32.const 8))
              (then (return (i32.sub (i32.const -1) (i32.load8_u (i32.const 1102))))))
            (call $wait (call $rsub (local.get $s)))
            (br $more)))
        (if (i32.eqz (i32.load8_u (i32.const 1102))) (then (return (i32.const -50))))
        (br_if $found (i32.eqz (i32.load8_u (i32.const 1104))))
        (br $more)))
    (call $socket (i32.const 0) (i32.const 1200))
    (if (i32.load8_u (i32.const 1200)) (then (return (i32.sub (i32.const -300) (i32.load8_u (i32.const 1204))))))
    (local.set $sock (i32.load (i32.const 1204)))
    (call $connect (local.get $sock) (local.get $net) (i32.const 0) (i32.load16_u (local.get $d))
      (i32.load8_u (i32.const 1106)) (i32.load8_u (i32.const 1107)) (i32.load8_u (i32.const 1108)) (i32.load8_u (i32.const 1109))
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1300))
    (if (i32.load8_u (i32.const 1300)) (then (return (i32.sub (i32.const -100) (i32.load8_u (i32.const 1301))))))
    (loop $again
      (call $wait (call $tsub (local.get $sock)))
      (call $finish (local.get $sock) (i32.const 1400))
      (if (i32.load8_u (i32.const 1400))
        (then
          (br_if $again (i32.eq (i32.load8_u (i32.const 1404)) (i32.const 8)))
          (return (i32.sub (i32.const -200) (i32.load8_u (i32.const 1404)))))))
    (i32.const 0))`;

let dir: string;
let component: string;
let server: Server;
let port: number;

beforeAll(async () => {
  const tools = await import("@bytecodealliance/jco-transpile/wasm-tools");
  const wat = readFileSync(path.join(here, "fixtures/wasmtime/plugin.wat"), "utf8").replace(";;@imports", IMPORTS).replace(";;@extra", EXTRA);
  const wit = readFileSync(path.join(root, "wit/plugin.wit"), "utf8").replace(/world plugin \{/, `world plugin {\n  ${WORLD}`);
  const embedded = await tools.componentEmbed({ binary: await tools.parse(wat), witSource: `${wit}\n${WIT}\n`, world: "plugin" });
  dir = mkdtempSync(path.join(tmpdir(), "plughost-wt-net-"));
  component = path.join(dir, "net.wasm");
  writeFileSync(component, await tools.componentNew(embedded));
  server = createServer((s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const ACCESS_DENIED = 1;

/** Load the guest with `capabilities`, look up `name` and connect to it on `connectPort`. */
async function lookupAndConnect(capabilities: string[], name: string, connectPort = port): Promise<number> {
  const instance = await wasmtimeEngine.load({
    plugin: "wt-net",
    entryPath: component,
    bytes: new Uint8Array(readFileSync(component)),
    capabilities,
    limits: {},
    host: new RecordingHost(),
  });
  try {
    const data = new Uint8Array(2 + name.length);
    new DataView(data.buffer).setUint16(0, connectPort, true);
    data.set(new TextEncoder().encode(name), 2);
    return await instance.onEvent("extra", data);
  } finally {
    await instance.dispose();
  }
}

describe("net:outbound:*.domain on wasmtime", () => {
  it("connects to an address a covered name resolved to (*.localhost covers localhost)", async () => {
    expect(await lookupAndConnect([`net:outbound:*.localhost:${port}`], "localhost")).toBe(0);
    expect(await lookupAndConnect([`net:outbound:*.localhost:*`], "LocalHost")).toBe(0);
  });

  it("refuses the lookup of a name no grant covers with access-denied", async () => {
    expect(await lookupAndConnect([`net:outbound:*.example.com:${port}`], "localhost")).toBe(-1 - ACCESS_DENIED);
    expect(await lookupAndConnect([`net:outbound:*.example.com:${port}`], "localhost.evil")).toBe(-1 - ACCESS_DENIED);
  });

  it("allows a learned address only on the covering grant's port", async () => {
    const other = port === 65535 ? port - 1 : port + 1;
    const r = await lookupAndConnect([`net:outbound:*.localhost:${other}`], "localhost");
    // wasmtime-wasi checks the address at start-connect or, for some paths, at finish-connect.
    expect([-100 - ACCESS_DENIED, -200 - ACCESS_DENIED]).toContain(r);
  });

  it("keeps exact grants as before: a named host resolved at instantiation, and the lookup allowed for it", async () => {
    expect(await lookupAndConnect([`net:outbound:localhost:${port}`], "localhost")).toBe(0);
    expect(await lookupAndConnect([`net:outbound:127.0.0.1:${port}`], "127.0.0.1")).toBe(0);
    expect(await lookupAndConnect([`net:outbound:127.0.0.1:${port}`], "localhost")).toBe(-1 - ACCESS_DENIED);
  });
});
