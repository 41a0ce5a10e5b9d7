// Package plughosttest runs a plugin's handlers natively, under `go test`,
// against an in-memory host that records what the plugin asked of it. It
// checks event names as the real host does; everything else is in the test's
// hands. It does not exercise the Wasm ABI: build the component for that.
//
//	func TestGreet(t *testing.T) {
//		h := plughosttest.New(t)
//		if s := h.Init("0.1.0", "{}"); s != 0 { t.Fatal(s) }
//		out, status := h.Hook("greet", []byte("Go"))
//		...
//	}
package plughosttest

import (
	"encoding/json"
	"regexp"
	"testing"

	plughost "plughost.dev/sdk"
	"plughost.dev/sdk/internal/rt"
)

// LogEntry is one call to plughost.Log.
type LogEntry struct {
	Level   plughost.Level
	Message string
}

// Message is one Emit or Send.
type Message struct {
	Target string // empty for Emit
	Event  string
	Data   []byte
}

// Host is the fake host. Set the hooks to simulate refusals.
type Host struct {
	Logs       []LogEntry
	Registered []string
	Emitted    []Message
	Sent       []Message
	// ConfigJSON is what Config returns and ConfigValue reads (default "{}").
	ConfigJSON string
	// RegisterError, when it returns non-nil, refuses a registration.
	RegisterError func(event string) *plughost.RegisterError
	// EmitResult returns the count Emit reports, or a refusal (default 0, nil).
	EmitResult func(event string, data []byte) (uint32, *plughost.MessageError)
	// SendError refuses a Send when it returns non-nil.
	SendError func(target, event string) *plughost.MessageError
}

var validName = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,128}$`)

// New installs a fresh fake host for the rest of the test (handlers registered
// in init() stay registered).
func New(t testing.TB) *Host {
	h := &Host{ConfigJSON: "{}"}
	prev := rt.Current()
	rt.SetHost(h)
	if t != nil {
		t.Cleanup(func() { rt.SetHost(prev) })
	}
	return h
}

// Init calls the plugin's init handler with the given config (JSON).
func (h *Host) Init(apiVersion, config string) int32 {
	h.ConfigJSON = config
	return rt.CallInit(apiVersion, config)
}

// Teardown calls the plugin's teardown handler.
func (h *Host) Teardown() int32 { return rt.CallTeardown() }

// Event calls the plugin's on-event handler.
func (h *Host) Event(event string, data []byte) int32 { return rt.CallEvent(event, clone(data)) }

// Hook calls the plugin's on-hook handler.
func (h *Host) Hook(event string, data []byte) ([]byte, int32) {
	out, status := rt.CallHook(event, clone(data))
	if status != 0 {
		return nil, status
	}
	return clone(out), 0
}

// Messages returns the logged messages, for easy comparison.
func (h *Host) Messages() []string {
	out := make([]string, len(h.Logs))
	for i, l := range h.Logs {
		out[i] = l.Message
	}
	return out
}

// The rt.Host side.

func (h *Host) Log(level uint8, msg string) {
	h.Logs = append(h.Logs, LogEntry{plughost.Level(level), msg})
}

func (h *Host) RegisterCallback(event string) (bool, uint8) {
	if !validName.MatchString(event) {
		return false, uint8(plughost.RegisterInvalidName)
	}
	if h.RegisterError != nil {
		if e := h.RegisterError(event); e != nil {
			return false, uint8(*e)
		}
	}
	for _, r := range h.Registered {
		if r == event {
			return true, 0
		}
	}
	h.Registered = append(h.Registered, event)
	return true, 0
}

func (h *Host) Emit(event string, data []byte) (uint32, bool, uint8) {
	if !validName.MatchString(event) {
		return 0, false, uint8(plughost.MessageInvalidName)
	}
	h.Emitted = append(h.Emitted, Message{Event: event, Data: clone(data)})
	if h.EmitResult != nil {
		n, e := h.EmitResult(event, data)
		if e != nil {
			return 0, false, uint8(*e)
		}
		return n, true, 0
	}
	return 0, true, 0
}

func (h *Host) Send(target, event string, data []byte) (bool, uint8) {
	if !validName.MatchString(event) {
		return false, uint8(plughost.MessageInvalidName)
	}
	if h.SendError != nil {
		if e := h.SendError(target, event); e != nil {
			return false, uint8(*e)
		}
	}
	h.Sent = append(h.Sent, Message{Target: target, Event: event, Data: clone(data)})
	return true, 0
}

func (h *Host) GetConfig() string { return h.ConfigJSON }

func (h *Host) GetConfigValue(key string) (string, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(h.ConfigJSON), &m) != nil {
		return "", false
	}
	v, ok := m[key]
	return string(v), ok
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append([]byte{}, b...)
}
