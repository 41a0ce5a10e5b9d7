package main

import (
	"testing"

	"plughost.dev/sdk/plughosttest"
)

func TestGreet(t *testing.T) {
	h := plughosttest.New(t)
	if status := h.Init("0.1.0", `{"greeting":"hi"}`); status != 0 {
		t.Fatalf("init returned %d", status)
	}
	if len(h.Registered) != 1 || h.Registered[0] != "greet" {
		t.Fatalf("registered %v", h.Registered)
	}
	out, status := h.Hook("greet", []byte("Go"))
	if status != 0 || string(out) != "hi, Go!" {
		t.Fatalf("hook: %q %d", out, status)
	}
	if status := h.Event("greet", []byte("there")); status != 0 {
		t.Fatalf("event returned %d", status)
	}
	if got := h.Messages(); got[len(got)-1] != "hi, there!" {
		t.Fatalf("logs %v", got)
	}
	if _, status := h.Hook("other", nil); status != -100 {
		t.Fatalf("unknown hook returned %d", status)
	}
}
