//go:build !wasm

package main

// Outside Wasm (go test) there is no linear memory to grow.
func growMemory(pages int32) int32 { return -1 }
