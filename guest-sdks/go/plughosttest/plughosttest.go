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
	"strings"
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
	// Metrics are the metrics the plugin defined, by id; Values their values by
	// name and label values joined with ",": a counter's sum, a gauge's last value,
	// a histogram's observation count.
	Metrics []MetricDef
	Values  map[string]float64
	// Requests are the plugin's Requests, in order; Answer answers them
	// (default: RequestUnknownTarget).
	Requests []Request
	Answer   func(target, event string, data []byte) ([]byte, *plughost.RequestError)
	// Current is what CurrentMessage returns (nil: none, as in init).
	Current *plughost.Message
}

// Request is one plughost.Request.
type Request struct {
	Target    string
	Event     string
	Data      []byte
	TimeoutMs uint32
}

// MetricDef is one DefineMetric.
type MetricDef struct {
	Kind   plughost.MetricKind
	Name   string
	Labels []string
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

// Suspend calls the plugin's on-suspend handler (0 without one).
func (h *Host) Suspend() int32 { return rt.CallSuspend() }

// Resume calls the plugin's on-resume handler (0 without one).
func (h *Host) Resume() int32 { return rt.CallResume() }

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

var metricName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func (h *Host) DefineMetric(kind uint8, name, help string, labels []string) (uint32, bool, uint8) {
	if !metricName.MatchString(name) {
		return 0, false, uint8(plughost.MetricInvalidName)
	}
	for id, m := range h.Metrics {
		if m.Name == name {
			if m.Kind != plughost.MetricKind(kind) || strings.Join(m.Labels, ",") != strings.Join(labels, ",") {
				return 0, false, uint8(plughost.MetricConflict)
			}
			return uint32(id), true, 0
		}
	}
	h.Metrics = append(h.Metrics, MetricDef{plughost.MetricKind(kind), name, append([]string{}, labels...)})
	return uint32(len(h.Metrics) - 1), true, 0
}

func (h *Host) RecordMetric(id uint32, value float64, labels []string) (bool, uint8) {
	if int(id) >= len(h.Metrics) {
		return false, uint8(plughost.MetricUnknownMetric)
	}
	m := h.Metrics[id]
	if len(labels) != len(m.Labels) {
		return false, uint8(plughost.MetricInvalidLabels)
	}
	if h.Values == nil {
		h.Values = map[string]float64{}
	}
	key := strings.Join(append([]string{m.Name}, labels...), ",")
	switch m.Kind {
	case plughost.Counter:
		if value < 0 {
			return false, uint8(plughost.MetricInvalidValue)
		}
		h.Values[key] += value
	case plughost.Gauge:
		h.Values[key] = value
	default:
		h.Values[key]++
	}
	return true, 0
}

func (h *Host) Request(target, event string, data []byte, timeoutMs uint32) ([]byte, bool, uint8) {
	if !validName.MatchString(event) || target == "" || len(target) > 128 {
		return nil, false, uint8(plughost.RequestInvalidName)
	}
	h.Requests = append(h.Requests, Request{target, event, clone(data), timeoutMs})
	if h.Answer == nil {
		return nil, false, uint8(plughost.RequestUnknownTarget)
	}
	out, e := h.Answer(target, event, clone(data))
	if e != nil {
		return nil, false, uint8(*e)
	}
	return clone(out), true, 0
}

func (h *Host) CurrentMessage() (rt.Message, bool) {
	if h.Current == nil {
		return rt.Message{}, false
	}
	m := h.Current
	meta := append([][2]string{}, m.Metadata...)
	return rt.Message{ID: m.ID, ParentID: m.ParentID, HasParent: m.HasParent, Source: m.Source, Target: m.Target, Event: m.Event, Kind: uint8(m.Kind), Metadata: meta}, true
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append([]byte{}, b...)
}
