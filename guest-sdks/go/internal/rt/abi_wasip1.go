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

//go:wasmimport plughost:plugin/host@0.1.0 define-metric
func hostDefineMetric(kind uint32, name unsafe.Pointer, nameLen uint32, help unsafe.Pointer, helpLen uint32, labels unsafe.Pointer, labelsLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 record-metric
func hostRecordMetric(id uint32, value float64, labels unsafe.Pointer, labelsLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 request
func hostRequest(target unsafe.Pointer, targetLen uint32, name unsafe.Pointer, nameLen uint32, data unsafe.Pointer, dataLen uint32, timeoutMs uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 current-message
func hostCurrentMessage(ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-get
func hostStateGet(key unsafe.Pointer, keyLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-set
func hostStateSet(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-delete
func hostStateDelete(key unsafe.Pointer, keyLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-exists
func hostStateExists(key unsafe.Pointer, keyLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-list-keys
func hostStateListKeys(hasCursor uint32, cursor unsafe.Pointer, cursorLen uint32, limit uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-increment
func hostStateIncrement(key unsafe.Pointer, keyLen uint32, delta int64, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 state-compare-and-swap
func hostStateCompareAndSwap(key unsafe.Pointer, keyLen uint32, hasExpected uint32, expected unsafe.Pointer, expectedLen uint32, value unsafe.Pointer, valueLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 context-get
func hostContextGet(key unsafe.Pointer, keyLen uint32, ret unsafe.Pointer)

//go:wasmimport plughost:plugin/host@0.1.0 context-set
func hostContextSet(key unsafe.Pointer, keyLen uint32, value unsafe.Pointer, valueLen uint32, ret unsafe.Pointer)

// trap executes `unreachable` (abi_wasm.s).
func trap()

// retArea receives import results: result<_, e> is {u8 tag, u8 e};
// result<u32, e> is {u8 tag, u32 at 4}; string is {ptr, len};
// option<string> is {u8 tag, ptr at 4, len at 8}. The calls do not nest.
var retArea [4]uint32

func retPtr() unsafe.Pointer { return unsafe.Pointer(&retArea) }

// cabi_realloc runs while the host lowers arguments (and import results)
// into the guest, where the component model forbids calling imports: wasmtime
// traps with "cannot leave component instance". Go's allocator may start or
// assist a GC, which reads the clock through WASI, so cabi_realloc never
// allocates from the Go heap. It bump-allocates from an arena of raw linear
// memory taken from the runtime's brk (runtime.sbrk: memory.grow plus the
// bookkeeping that keeps the Go heap out of it; no import, no GC). Every
// export copies its arguments out (take) and resets the arena before running
// plugin code. When a lowering outgrows the arena, a chunk twice the size
// replaces it; the old chunk is not reused, so raw memory stays under about
// three times the largest lowering.
var (
	arenaBase uintptr
	arenaSize uintptr
	arenaUsed uintptr
)

const arenaInitial = 64 << 10

//go:linkname sbrk runtime.sbrk
func sbrk(n uintptr) unsafe.Pointer

func arenaAlloc(size, align uintptr) uintptr {
	if align < 8 {
		align = 8
	}
	start := (arenaUsed + align - 1) &^ (align - 1)
	if start+size > arenaSize {
		grown := max(2*arenaSize, size+align, arenaInitial)
		grown = (grown + 65535) &^ 65535
		p := sbrk(grown)
		if p == nil {
			trap() // linear memory cannot grow (the host's memory cap)
		}
		arenaBase, arenaSize, arenaUsed = uintptr(p), grown, 0
		start = (arenaBase+align-1)&^(align-1) - arenaBase
	}
	arenaUsed = start + size
	return arenaBase + start
}

// resetArena frees the arena for the next lowering; every export calls it
// once its arguments are taken.
func resetArena() { arenaUsed = 0 }

// The WASI preview1 adapter allocates its stack and state through
// cabi_realloc on its first call, which Go's runtime makes from inside
// _initialize before the heap exists. Until package initialization has run,
// blocks come from this static arena instead; they are never freed. (This
// relies on the runtime making a WASI call, nanotime, in schedinit, as Go
// 1.24-1.26 do: an adapter allocation after init would land in the
// resettable arena below.)
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

func mem(ptr, n uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(ptr))), n)
}

//go:wasmexport cabi_realloc
func cabiRealloc(oldPtr, oldSize, align, newSize uint32) uint32 {
	if !heapReady {
		if oldSize != 0 || newSize == 0 {
			trap() // only fresh allocations happen before the runtime is up
		}
		return earlyAlloc(newSize)
	}
	if newSize == 0 {
		return align // a zero-length block: any aligned address will do
	}
	ptr := uint32(arenaAlloc(uintptr(newSize), uintptr(align)))
	if oldSize != 0 {
		copy(mem(ptr, newSize), mem(oldPtr, min(oldSize, newSize)))
	}
	return ptr
}

// take returns a Go-owned copy of the n bytes the host lowered at ptr.
// Zero-length values arrive with a dangling pointer and are never read.
func take(ptr, n uint32) []byte {
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, mem(ptr, n))
	return out
}

// names interns event names: a plugin sees few distinct ones, so after the
// first call a name costs a comparison and no allocation.
var names []string

const maxNames = 64

func takeName(ptr, n uint32) string {
	if n == 0 {
		return ""
	}
	b := mem(ptr, n)
	for _, s := range names {
		if s == string(b) {
			return s
		}
	}
	name := string(b)
	if len(names) < maxNames {
		names = append(names, name)
	}
	return name
}

func takeString(ptr, n uint32) string {
	if n == 0 {
		return ""
	}
	return string(mem(ptr, n))
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
	s := takeString(retArea[0], retArea[1])
	resetArena() // the arguments were taken at entry; nothing else lives there
	return s
}

func (wasmHost) GetConfigValue(key string) (string, bool) {
	p, n := strPtr(key)
	hostGetConfigValue(p, n, retPtr())
	runtime.KeepAlive(key)
	if uint8(retArea[0]) == 0 {
		return "", false
	}
	s := takeString(retArea[1], retArea[2])
	resetArena()
	return s, true
}

// maxLabels is the most strings the host reads of a label list (a longer one is refused unread).
const maxLabels = 16

// strList lowers a list<string>: an array of (ptr, len) pairs. The strings
// must stay alive until the import returns (the caller keeps them).
func strList(items []string, pairs *[maxLabels][2]uint32) (unsafe.Pointer, uint32) {
	for i, s := range items {
		p, n := strPtr(s)
		pairs[i] = [2]uint32{uint32(uintptr(p)), n}
	}
	return unsafe.Pointer(pairs), uint32(len(items))
}

func (wasmHost) DefineMetric(kind uint8, name, help string, labels []string) (uint32, bool, uint8) {
	if len(labels) > maxLabels {
		return 0, false, 4 // limit-reached
	}
	var pairs [maxLabels][2]uint32
	np, nn := strPtr(name)
	hp, hn := strPtr(help)
	lp, ln := strList(labels, &pairs)
	hostDefineMetric(uint32(kind), np, nn, hp, hn, lp, ln, retPtr())
	runtime.KeepAlive(name)
	runtime.KeepAlive(help)
	runtime.KeepAlive(labels)
	runtime.KeepAlive(&pairs)
	if uint8(retArea[0]) == 0 {
		return retArea[1], true, 0
	}
	return 0, false, uint8(retArea[1])
}

func (wasmHost) RecordMetric(id uint32, value float64, labels []string) (bool, uint8) {
	if len(labels) > maxLabels {
		return false, 2 // invalid-labels
	}
	var pairs [maxLabels][2]uint32
	lp, ln := strList(labels, &pairs)
	hostRecordMetric(id, value, lp, ln, retPtr())
	runtime.KeepAlive(labels)
	runtime.KeepAlive(&pairs)
	b := (*[2]byte)(retPtr())
	return b[0] == 0, b[1]
}

// Request's result<list<u8>, request-error> is {u8 tag; at 4: ok {ptr, len} | err u8}
// in retArea. The answer was lowered into the arena: copy it out, then reset.
func (wasmHost) Request(target, event string, data []byte, timeoutMs uint32) ([]byte, bool, uint8) {
	t, tn := strPtr(target)
	p, n := strPtr(event)
	d, dn := bytesPtr(data)
	hostRequest(t, tn, p, n, d, dn, timeoutMs, retPtr())
	runtime.KeepAlive(target)
	runtime.KeepAlive(event)
	runtime.KeepAlive(data)
	if uint8(retArea[0]) != 0 {
		return nil, false, uint8(retArea[1])
	}
	out := take(retArea[1], retArea[2])
	if out == nil {
		out = []byte{}
	}
	resetArena()
	return out, true, 0
}

// msgRet receives option<message-info> (align 8, 80 bytes): the u8
// discriminant, then the record at 8: id u64 @0; parent-id option<u64> @8
// (value @16); source option<string> @24 (ptr @28, len @32); target @36
// (@40, @44); event-name @48, @52; kind u8 @56; metadata list @60, @64 of
// (key ptr, key len, value ptr, value len).
var msgRet [10]uint64

func at32(base unsafe.Pointer, off uintptr) uint32 { return *(*uint32)(unsafe.Add(base, off)) }
func at8(base unsafe.Pointer, off uintptr) uint8   { return *(*uint8)(unsafe.Add(base, off)) }

func (wasmHost) CurrentMessage() (Message, bool) {
	base := unsafe.Pointer(&msgRet)
	hostCurrentMessage(base)
	if at8(base, 0) == 0 {
		return Message{}, false
	}
	r := unsafe.Add(base, 8)
	m := Message{ID: *(*uint64)(r), Kind: at8(r, 56)}
	if at8(r, 8) != 0 {
		m.HasParent, m.ParentID = true, *(*uint64)(unsafe.Add(r, 16))
	}
	if at8(r, 24) != 0 {
		m.Source = takeString(at32(r, 28), at32(r, 32))
	}
	if at8(r, 36) != 0 {
		m.Target = takeString(at32(r, 40), at32(r, 44))
	}
	m.Event = takeString(at32(r, 48), at32(r, 52))
	if n := at32(r, 64); n > 0 {
		list := unsafe.Add(nil, uintptr(at32(r, 60)))
		m.Metadata = make([][2]string, n)
		for i := uint32(0); i < n; i++ {
			e := unsafe.Add(list, uintptr(i)*16)
			m.Metadata[i] = [2]string{takeString(at32(e, 0), at32(e, 4)), takeString(at32(e, 8), at32(e, 12))}
		}
	}
	resetArena()
	return m, true
}

// ret8 receives the state and context results (align 8, 32 bytes):
//   result<_, e>, result<bool, e>: u8 tag @0, the bool or error @1;
//   result<option<list<u8>|string>, e>: tag @0; ok: option tag @4, ptr @8, len @12; err @4;
//   result<key-page, e>: tag @0; ok: keys ptr @4, len @8, cursor tag @12, ptr @16, len @20; err @4;
//   result<s64, e>: tag @0, the s64 or error @8.
var ret8 [4]uint64

func ret8Ptr() unsafe.Pointer { return unsafe.Pointer(&ret8) }

// unit reads a result<_, e> or result<bool, e> from ret8.
func unit() (value bool, ok bool, code uint8) {
	base := ret8Ptr()
	if at8(base, 0) != 0 {
		return false, false, at8(base, 1)
	}
	return at8(base, 1) != 0, true, 0
}

// optionalBytes reads a result<option<list<u8>>, e> from ret8, copying the value out of the arena.
func optionalBytes() (value []byte, found bool, ok bool, code uint8) {
	base := ret8Ptr()
	if at8(base, 0) != 0 {
		return nil, false, false, at8(base, 4)
	}
	if at8(base, 4) == 0 {
		return nil, false, true, 0
	}
	value = take(at32(base, 8), at32(base, 12))
	if value == nil {
		value = []byte{}
	}
	resetArena()
	return value, true, true, 0
}

func (wasmHost) StateGet(key string) ([]byte, bool, bool, uint8) {
	p, n := strPtr(key)
	hostStateGet(p, n, ret8Ptr())
	runtime.KeepAlive(key)
	return optionalBytes()
}

func (wasmHost) StateSet(key string, value []byte) (bool, uint8) {
	p, n := strPtr(key)
	v, vn := bytesPtr(value)
	hostStateSet(p, n, v, vn, ret8Ptr())
	runtime.KeepAlive(key)
	runtime.KeepAlive(value)
	_, ok, code := unit()
	return ok, code
}

func (wasmHost) StateDelete(key string) (bool, bool, uint8) {
	p, n := strPtr(key)
	hostStateDelete(p, n, ret8Ptr())
	runtime.KeepAlive(key)
	return unit()
}

func (wasmHost) StateExists(key string) (bool, bool, uint8) {
	p, n := strPtr(key)
	hostStateExists(p, n, ret8Ptr())
	runtime.KeepAlive(key)
	return unit()
}

func (wasmHost) StateListKeys(cursor string, hasCursor bool, limit uint32) (KeyPage, bool, uint8) {
	p, n := strPtr(cursor)
	var has uint32
	if hasCursor {
		has = 1
	}
	hostStateListKeys(has, p, n, limit, ret8Ptr())
	runtime.KeepAlive(cursor)
	base := ret8Ptr()
	if at8(base, 0) != 0 {
		return KeyPage{}, false, at8(base, 4)
	}
	var page KeyPage
	if count := at32(base, 8); count > 0 {
		list := unsafe.Add(nil, uintptr(at32(base, 4)))
		page.Keys = make([]string, count)
		for i := uint32(0); i < count; i++ {
			e := unsafe.Add(list, uintptr(i)*8)
			page.Keys[i] = takeString(at32(e, 0), at32(e, 4))
		}
	}
	if at8(base, 12) != 0 {
		page.HasCursor, page.Cursor = true, takeString(at32(base, 16), at32(base, 20))
	}
	resetArena()
	return page, true, 0
}

func (wasmHost) StateIncrement(key string, delta int64) (int64, bool, uint8) {
	p, n := strPtr(key)
	hostStateIncrement(p, n, delta, ret8Ptr())
	runtime.KeepAlive(key)
	if at8(ret8Ptr(), 0) != 0 {
		return 0, false, at8(ret8Ptr(), 8)
	}
	return int64(ret8[1]), true, 0
}

func (wasmHost) StateCompareAndSwap(key string, expected []byte, value []byte) (bool, bool, uint8) {
	p, n := strPtr(key)
	e, en := bytesPtr(expected)
	var has uint32
	if expected != nil {
		has = 1
	}
	v, vn := bytesPtr(value)
	hostStateCompareAndSwap(p, n, has, e, en, v, vn, ret8Ptr())
	runtime.KeepAlive(key)
	runtime.KeepAlive(expected)
	runtime.KeepAlive(value)
	return unit()
}

func (wasmHost) ContextGet(key string) (string, bool, bool, uint8) {
	p, n := strPtr(key)
	hostContextGet(p, n, ret8Ptr())
	runtime.KeepAlive(key)
	b, found, ok, code := optionalBytes()
	return string(b), found, ok, code
}

func (wasmHost) ContextSet(key, json string) (bool, uint8) {
	p, n := strPtr(key)
	v, vn := strPtr(json)
	hostContextSet(p, n, v, vn, ret8Ptr())
	runtime.KeepAlive(key)
	runtime.KeepAlive(json)
	_, ok, code := unit()
	return ok, code
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
	resetArena()
	defer trapOnPanic()
	return CallInit(apiVersion, config)
}

//go:wasmexport plughost:plugin/guest@0.1.0#teardown
func exportTeardown() int32 {
	resetArena()
	defer trapOnPanic()
	return CallTeardown()
}

// The optional lifecycle interface, always exported (the handlers default to 0):
// the build then makes a component of the world plugin-with-lifecycle.

//go:wasmexport plughost:plugin/lifecycle@0.1.0#on-suspend
func exportOnSuspend() int32 {
	resetArena()
	defer trapOnPanic()
	return CallSuspend()
}

//go:wasmexport plughost:plugin/lifecycle@0.1.0#on-resume
func exportOnResume() int32 {
	resetArena()
	defer trapOnPanic()
	return CallResume()
}

// The optional config-watch and handoff interfaces, always exported too (the
// build then makes a component of the world plugin-full). Without handlers,
// on-config-changed answers 1 (the host reloads the plugin with the new
// configuration), snapshot is empty and restore answers 0.

//go:wasmexport plughost:plugin/config-watch@0.1.0#on-config-changed
func exportOnConfigChanged(cfgPtr, cfgLen uint32) int32 {
	config := takeString(cfgPtr, cfgLen)
	resetArena()
	defer trapOnPanic()
	return CallConfigChanged(config)
}

// snapshotRet is snapshot's return area {ptr, len}; snapshotOut keeps the
// bytes referenced until the next snapshot (after post-return), as hookOut.
var (
	snapshotRet [2]uint32
	snapshotOut []byte
)

//go:wasmexport plughost:plugin/handoff@0.1.0#snapshot
func exportSnapshot() uint32 {
	snapshotOut = nil
	resetArena()
	defer trapOnPanic()
	snapshotOut = CallSnapshot()
	p, n := bytesPtr(snapshotOut)
	snapshotRet = [2]uint32{uint32(uintptr(p)), n}
	return uint32(uintptr(unsafe.Pointer(&snapshotRet)))
}

//go:wasmexport cabi_post_plughost:plugin/handoff@0.1.0#snapshot
func exportPostSnapshot(uint32) {}

//go:wasmexport plughost:plugin/handoff@0.1.0#restore
func exportRestore(dataPtr, dataLen uint32) int32 {
	data := take(dataPtr, dataLen)
	if data == nil {
		data = []byte{}
	}
	resetArena()
	defer trapOnPanic()
	return CallRestore(data)
}

//go:wasmexport plughost:plugin/guest@0.1.0#on-event
func exportOnEvent(namePtr, nameLen, dataPtr, dataLen uint32) int32 {
	event := takeName(namePtr, nameLen)
	data := take(dataPtr, dataLen)
	resetArena()
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
	resetArena()
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
