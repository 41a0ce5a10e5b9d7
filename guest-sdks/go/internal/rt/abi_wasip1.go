//go:build wasip1

// The canonical ABI for plughost:plugin@0.1.0, by hand: the host imports are
// lowered here and the guest exports lifted. Pointers are offsets in linear
// memory; Go's heap does not move objects, so a Go allocation that stays
// referenced keeps its address.

package rt

import (
	"runtime"
	"unsafe"
)

//go:wasmimport plughost:plugin/host@0.1.0 log
func hostLog(level uint32, msg unsafe.Pointer, msgLen uint32)

//go:wasmimport plughost:plugin/host@0.1.0 register-callback
func hostRegisterCallback(name unsafe.Pointer, nameLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 emit
func hostEmit(name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 send
func hostSend(target unsafe.Pointer, targetLen uint32, name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 get-config
func hostGetConfig(ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 get-config-value
func hostGetConfigValue(key unsafe.Pointer, keyLen uint32, ret unsafe.Pointer)

// trap executes `unreachable` (abi_wasm.s).
func trap()

// retArea receives import results: result<_, e> is {u8 tag, u8 e};
// result<u32, e> is {u8 tag, u32 at 4}; string is {ptr, len};
// option<string> is {u8 tag, ptr at 4, len at 8}. The calls do not nest.
var retArea [4]uint32

func retPtr() unsafe.Pointer { return unsafe.Pointer(&retArea) }

// live holds every block cabi_realloc handed out until the guest takes
// ownership of it (take), so the GC cannot collect memory the host is
// writing. Blocks are []uint64 for 8-byte alignment, the most any
// canonical ABI type needs. A call has at most a few blocks in flight, so a
// short list beats a map.
type pinned struct {
	ptr   uint32
	block []uint64
}

var live []pinned

// spare is a small block kept for reuse: event names are interned (see
// takeName), so the block that carried one goes back here and the next
// name needs no allocation.
var spare []uint64

const spareWords = 16

func pin(block []uint64) uint32 {
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(block))))
	live = append(live, pinned{ptr, block})
	return ptr
}

func unpin(ptr uint32) []uint64 {
	for i := len(live) - 1; i >= 0; i-- {
		if live[i].ptr == ptr {
			block := live[i].block
			last := len(live) - 1
			live[i] = live[last]
			live[last] = pinned{}
			live = live[:last]
			return block
		}
	}
	return nil
}

// The WASI preview1 adapter allocates its stack and state through
// cabi_realloc on its first call, which Go's runtime makes from inside
// _initialize before the heap exists. Until package initialization has run,
// blocks come from this static arena instead; they are never freed.
var (
	heapReady bool
	early     [(256 << 10) / 8]uint64
	earlyUsed uint32
)

func init() { heapReady = true }

func earlyAlloc(size uint32) uint32 {
	words := (size + 7) / 8
	if earlyUsed+words > uint32(len(early)) {
		trap() // nothing else can allocate yet
	}
	ptr := uint32(uintptr(unsafe.Pointer(&early[earlyUsed])))
	earlyUsed += words
	return ptr
}

//go:wasmexport cabi_realloc
func cabiRealloc(oldPtr, oldSize, align, newSize uint32) uint32 {
	if !heapReady {
		if oldSize != 0 || newSize == 0 {
			trap() // only fresh allocations happen before the runtime is up
		}
		return earlyAlloc(newSize)
	}
	var old []uint64
	if oldSize != 0 {
		old = unpin(oldPtr)
	}
	if newSize == 0 {
		return align // a zero-length block: any aligned address will do
	}
	words := (newSize + 7) / 8
	var block []uint64
	if old != nil && uint32(cap(old)) >= words {
		block = old[:words]
	} else {
		if uint32(cap(spare)) >= words {
			block, spare = spare[:words], nil
		} else {
			block = make([]uint64, words)
		}
		copy(block, old)
	}
	return pin(block)
}

// take returns the n bytes at ptr that the host lowered into a cabi_realloc
// block, and releases the block to the GC, which then keeps it alive for as
// long as the returned slice is referenced. Zero-length values arrive with a
// dangling pointer and are never looked up.
func take(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	if block := unpin(ptr); block != nil {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(block))), n)
	}
	// Not one of ours (a host that lowered elsewhere): copy it out.
	out := make([]byte, n)
	copy(out, unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(ptr))), n))
	return out
}

// names interns event names: a plugin sees few distinct ones, so after the
// first call a name costs a comparison, and its block is reused.
var names []string

const maxNames = 64

func takeName(ptr, n uint32) string {
	if n == 0 {
		return ""
	}
	block := unpin(ptr)
	var b []byte
	if block != nil {
		b = unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(block))), n)
	} else {
		b = unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(ptr))), n)
	}
	name := ""
	for _, s := range names {
		if s == string(b) {
			name = s
			break
		}
	}
	if name == "" {
		name = string(b)
		if len(names) < maxNames {
			names = append(names, name)
		}
	}
	if block != nil && cap(block) <= spareWords && cap(block) > cap(spare) {
		spare = block[:cap(block)]
	}
	return name
}

func takeString(ptr, n uint32) string {
	b := take(ptr, n)
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func strPtr(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bytesPtr(b []byte) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.SliceData(b)), uint32(len(b))
}

type wasmHost struct{}

func init() { SetHost(wasmHost{}) }

func (wasmHost) Log(level uint8, msg string) {
	p, n := strPtr(msg)
	hostLog(uint32(level), p, n)
	runtime.KeepAlive(msg)
}

func (wasmHost) RegisterCallback(event string) (bool, uint8) {
	p, n := strPtr(event)
	hostRegisterCallback(p, n, retPtr())
	runtime.KeepAlive(event)
	b := (*[2]byte)(retPtr())
	return b[0] == 0, b[1]
}

func (wasmHost) Emit(event string, data []byte) (uint32, bool, uint8) {
	p, n := strPtr(event)
	d, dn := bytesPtr(data)
	hostEmit(p, n, d, dn, retPtr())
	runtime.KeepAlive(event)
	runtime.KeepAlive(data)
	if uint8(retArea[0]) == 0 {
		return retArea[1], true, 0
	}
	return 0, false, uint8(retArea[1])
}

func (wasmHost) Send(target, event string, data []byte) (bool, uint8) {
	t, tn := strPtr(target)
	p, n := strPtr(event)
	d, dn := bytesPtr(data)
	hostSend(t, tn, p, n, d, dn, retPtr())
	runtime.KeepAlive(target)
	runtime.KeepAlive(event)
	runtime.KeepAlive(data)
	b := (*[2]byte)(retPtr())
	return b[0] == 0, b[1]
}

func (wasmHost) GetConfig() string {
	hostGetConfig(retPtr())
	return takeString(retArea[0], retArea[1])
}

func (wasmHost) GetConfigValue(key string) (string, bool) {
	p, n := strPtr(key)
	hostGetConfigValue(p, n, retPtr())
	runtime.KeepAlive(key)
	if uint8(retArea[0]) == 0 {
		return "", false
	}
	return takeString(retArea[1], retArea[2]), true
}

// A panic in a handler is logged at error level and then traps, so the host
// sees a trap (and discards the instance) rather than a WASI exit.
func trapOnPanic() {
	r := recover()
	if r == nil {
		return
	}
	msg := "panic: " + panicString(r)
	buf := make([]byte, 4096)
	msg += "\n" + string(buf[:runtime.Stack(buf, false)])
	func() {
		defer func() { _ = recover() }() // the host may be unable to log; trap anyway
		current.Log(3, msg)
	}()
	trap()
}

func panicString(r any) string {
	switch v := r.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case interface{ String() string }:
		return v.String()
	default:
		return "(a value that is not a string or error)"
	}
}

//go:wasmexport plughost:plugin/guest@0.1.0#init
func exportInit(apiPtr, apiLen, cfgPtr, cfgLen uint32) int32 {
	apiVersion := takeString(apiPtr, apiLen)
	config := takeString(cfgPtr, cfgLen)
	defer trapOnPanic()
	return CallInit(apiVersion, config)
}

//go:wasmexport plughost:plugin/guest@0.1.0#teardown
func exportTeardown() int32 {
	defer trapOnPanic()
	return CallTeardown()
}

//go:wasmexport plughost:plugin/guest@0.1.0#on-event
func exportOnEvent(namePtr, nameLen, dataPtr, dataLen uint32) int32 {
	event := takeName(namePtr, nameLen)
	data := take(dataPtr, dataLen)
	defer trapOnPanic()
	return CallEvent(event, data)
}

// hookRet is on-hook's return area: {u8 tag; at 4: ok {ptr, len} | err s32}.
// hookOut keeps the returned bytes referenced until the next on-hook, which
// is after post-return, so they stay valid while the host reads them.
var (
	hookRet [3]uint32
	hookOut []byte
)

//go:wasmexport plughost:plugin/guest@0.1.0#on-hook
func exportOnHook(namePtr, nameLen, dataPtr, dataLen uint32) uint32 {
	hookOut = nil
	event := takeName(namePtr, nameLen)
	data := take(dataPtr, dataLen)
	defer trapOnPanic()
	out, status := CallHook(event, data)
	if status != 0 {
		hookRet = [3]uint32{1, uint32(status), 0}
	} else {
		hookOut = out
		p, n := bytesPtr(out)
		hookRet = [3]uint32{0, uint32(uintptr(p)), n}
	}
	return uint32(uintptr(unsafe.Pointer(&hookRet)))
}

// Post-return must not call imports (the component model traps with "cannot
// leave component instance"), so it runs no Go code that could reach the
// scheduler or the allocator; hookOut is released by the next on-hook.
//
//go:wasmexport cabi_post_plughost:plugin/guest@0.1.0#on-hook
func exportPostOnHook(uint32) {}
