//go:build wasip1

// What plughost.dev/sdk/cabi needs of this package's canonical ABI state:
// the arena cabi_realloc lowers into, and the panic handler.

package rt

// TakeBytes copies n lowered bytes at ptr out of the arena (nil for n == 0).
func TakeBytes(ptr, n uint32) []byte { return take(ptr, n) }

// TakeString copies a lowered string out of the arena.
func TakeString(ptr, n uint32) string { return takeString(ptr, n) }

// ResetArena frees the arena for the next lowering.
func ResetArena() { resetArena() }

// TrapOnPanic is deferred by exports: a panic is logged and traps.
func TrapOnPanic() { trapOnPanic() }

// Trap executes `unreachable`.
func Trap() { trap() }
