//go:build wasip1

// Package cabi helps hand-written canonical-ABI glue for an application's
// WIT world (docs/guest-go.md): a Go plugin that imports an app's host
// interfaces (//go:wasmimport <ns>:<pkg>/<iface>@<version> <func>) or exports
// its own (//go:wasmexport <ns>:<pkg>/<iface>@<version>#<func>).
//
// Two kinds of memory cross the boundary:
//   - What the host lowers into the guest (an export's arguments, an import's
//     results) lands in the SDK's scratch arena through cabi_realloc. Copy it
//     out (String, Bytes, the Load functions) before the next import call or
//     Reset, which reuses the arena.
//   - What the guest hands to the host (an import's arguments, an export's
//     results) is Go memory: Alloc, StringPtr and BytesPtr keep it referenced
//     until the next export starts (Begin), so it stays valid while the host
//     reads it, including after an export returns (until post-return).
//
// Every export: copy its arguments out, call Begin, `defer cabi.Guard()`.
package cabi

import (
	"math"
	"unsafe"

	"plughost.dev/sdk/internal/rt"
)

// kept holds the Go memory handed to the host during this export call.
var kept []any

// Begin starts an export call once its arguments are copied out: it frees
// the arena and drops what the previous call handed to the host.
func Begin() {
	rt.ResetArena()
	clear(kept)
	kept = kept[:0]
}

// Reset frees the arena after an import's results are copied out.
func Reset() { rt.ResetArena() }

// Guard is deferred by every export: a panic is logged at error level and
// traps, so the host sees a trap for this call (never a WASI exit).
func Guard() { rt.TrapOnPanic() }

// Trap ends the call with a trap (a value the glue cannot represent).
func Trap() { rt.Trap() }

// String copies a lowered string (ptr, len) out of guest memory.
func String(ptr, n uint32) string { return rt.TakeString(ptr, n) }

// Bytes copies a lowered list<u8> out of guest memory; never nil.
func Bytes(ptr, n uint32) []byte {
	b := rt.TakeBytes(ptr, n)
	if b == nil {
		b = []byte{}
	}
	return b
}

func at(p uint32) unsafe.Pointer { return unsafe.Add(nil, uintptr(p)) }

// Alloc returns zeroed Go memory of size bytes aligned to align (at most 8),
// kept until the next Begin.
func Alloc(size, align uint32) uint32 {
	if size == 0 {
		return align
	}
	buf := make([]uint64, (size+7)/8)
	kept = append(kept, buf)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
}

// StringPtr is s lowered as (ptr, len), kept until the next Begin.
func StringPtr(s string) (uint32, uint32) {
	if len(s) == 0 {
		return 1, 0
	}
	kept = append(kept, s)
	return uint32(uintptr(unsafe.Pointer(unsafe.StringData(s)))), uint32(len(s))
}

// BytesPtr is b lowered as (ptr, len), kept until the next Begin.
func BytesPtr(b []byte) (uint32, uint32) {
	if len(b) == 0 {
		return 1, 0
	}
	kept = append(kept, b)
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))), uint32(len(b))
}

// StringsPtr lowers a list<string>: an array of (ptr, len) pairs.
func StringsPtr(items []string) (uint32, uint32) {
	if len(items) == 0 {
		return 4, 0
	}
	p := Alloc(uint32(8*len(items)), 4)
	for i, s := range items {
		sp, sn := StringPtr(s)
		PutU32(p+uint32(8*i), sp)
		PutU32(p+uint32(8*i)+4, sn)
	}
	return p, uint32(len(items))
}

// Strings lifts a list<string> at (ptr, n), copying each string.
func Strings(ptr, n uint32) []string {
	out := make([]string, n)
	for i := uint32(0); i < n; i++ {
		out[i] = String(U32(ptr+8*i), U32(ptr+8*i+4))
	}
	return out
}

// Loads from guest memory.
func U8(p uint32) uint8    { return *(*uint8)(at(p)) }
func U16(p uint32) uint16  { return *(*uint16)(at(p)) }
func U32(p uint32) uint32  { return *(*uint32)(at(p)) }
func U64(p uint32) uint64  { return *(*uint64)(at(p)) }
func F32(p uint32) float32 { return *(*float32)(at(p)) }
func F64(p uint32) float64 { return *(*float64)(at(p)) }

// Stores into guest memory (memory from Alloc).
func PutU8(p uint32, v uint8)    { *(*uint8)(at(p)) = v }
func PutU16(p uint32, v uint16)  { *(*uint16)(at(p)) = v }
func PutU32(p uint32, v uint32)  { *(*uint32)(at(p)) = v }
func PutU64(p uint32, v uint64)  { *(*uint64)(at(p)) = v }
func PutF32(p uint32, v float32) { *(*float32)(at(p)) = v }
func PutF64(p uint32, v float64) { *(*float64)(at(p)) = v }

// Bool lifts a flat bool (any non-zero is true, as the canonical ABI says).
func Bool(v uint32) bool { return v != 0 }

// FromBool lowers a bool.
func FromBool(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// F32Bits and F32FromBits move an f32 through an i32 slot (a variant's
// joined flat payload).
func F32Bits(f float32) uint32     { return math.Float32bits(f) }
func F32FromBits(b uint32) float32 { return math.Float32frombits(b) }

// Char checks a lifted char: a Unicode scalar value (not a surrogate, at
// most 0x10FFFF); anything else traps, as the canonical ABI requires.
func Char(v uint32) rune {
	if v >= 0x110000 || (v >= 0xD800 && v < 0xE000) {
		Trap()
	}
	return rune(v)
}
