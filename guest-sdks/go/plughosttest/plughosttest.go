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
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"sort"
	"strconv"
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
	// State is the plugin's persistent state, in memory: read it, or seed it
	// before a call. StateError, when it returns non-nil, refuses an
	// operation ("get", "set", "delete", "exists", "list", "increment", "cas")
	// on key, to simulate a denial, a full quota or a backend failure.
	State      map[string][]byte
	StateError func(op, key string) *plughost.StateError
	// Context holds context values as JSON, by key (a key without an entry
	// has no value). ContextWritable lists the keys the plugin may write (as
	// context:write:<key>); ContextError, when it returns non-nil, refuses a
	// read (write false) or a write of key.
	Context         map[string]string
	ContextWritable []string
	ContextError    func(key string, write bool) *plughost.ContextError
	// Reloads counts the reloads SetConfig simulated (the handler did not take the config).
	Reloads int
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

var decimal = regexp.MustCompile(`^(?:0|-?[1-9][0-9]{0,18})$`)

var validName = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,128}$`)

// New installs a fresh fake host for the rest of the test (handlers registered
// in init() stay registered).
func New(t testing.TB) *Host {
	h := &Host{ConfigJSON: "{}", State: map[string][]byte{}, Context: map[string]string{}}
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

// SetConfig delivers a new configuration as the host's live update does: it
// becomes what Config returns, and the plugin's on-config-changed handler
// gets it. A non-zero status (the default without a handler) is what makes
// the real host reload the plugin: here Reloads counts it, and the test can
// call Init again with the new config to play the new instance.
func (h *Host) SetConfig(config string) int32 {
	h.ConfigJSON = config
	status := rt.CallConfigChanged(config)
	if status != 0 {
		h.Reloads++
	}
	return status
}

// Snapshot calls the plugin's snapshot handler (empty without one).
func (h *Host) Snapshot() []byte { return clone(rt.CallSnapshot()) }

// Restore calls the plugin's restore handler with data (0 without one).
func (h *Host) Restore(data []byte) int32 { return rt.CallRestore(clone(data)) }

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

func (h *Host) stateRefused(op, key string) (bool, uint8) {
	if len(key) == 0 || len(key) > 256 {
		return true, uint8(plughost.StateInvalidKey)
	}
	if h.StateError != nil {
		if e := h.StateError(op, key); e != nil {
			return true, uint8(*e)
		}
	}
	return false, 0
}

func (h *Host) StateGet(key string) ([]byte, bool, bool, uint8) {
	if refused, code := h.stateRefused("get", key); refused {
		return nil, false, false, code
	}
	v, found := h.State[key]
	if !found {
		return nil, false, true, 0
	}
	return clone(v), true, true, 0
}

func (h *Host) StateSet(key string, value []byte) (bool, uint8) {
	if refused, code := h.stateRefused("set", key); refused {
		return false, code
	}
	if len(value) > 1<<20 {
		return false, uint8(plughost.StateTooLarge)
	}
	h.State[key] = clone(value)
	return true, 0
}

func (h *Host) StateDelete(key string) (bool, bool, uint8) {
	if refused, code := h.stateRefused("delete", key); refused {
		return false, false, code
	}
	_, found := h.State[key]
	delete(h.State, key)
	return found, true, 0
}

func (h *Host) StateExists(key string) (bool, bool, uint8) {
	if refused, code := h.stateRefused("exists", key); refused {
		return false, false, code
	}
	_, found := h.State[key]
	return found, true, 0
}

func (h *Host) StateListKeys(cursor string, hasCursor bool, limit uint32) (rt.KeyPage, bool, uint8) {
	if h.StateError != nil {
		if e := h.StateError("list", cursor); e != nil {
			return rt.KeyPage{}, false, uint8(*e)
		}
	}
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		limit = 1000
	}
	keys := make([]string, 0, len(h.State))
	for k := range h.State {
		if !hasCursor || k > cursor {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // byte order, as the host's
	if uint32(len(keys)) <= limit {
		return rt.KeyPage{Keys: keys}, true, 0
	}
	keys = keys[:limit]
	return rt.KeyPage{Keys: keys, Cursor: keys[len(keys)-1], HasCursor: true}, true, 0
}

func (h *Host) StateIncrement(key string, delta int64) (int64, bool, uint8) {
	if refused, code := h.stateRefused("increment", key); refused {
		return 0, false, code
	}
	var n int64
	if v, found := h.State[key]; found {
		var err error
		// The host's rule: 0 or an optionally negative decimal without leading zeros.
		if n, err = strconv.ParseInt(string(v), 10, 64); err != nil || !decimal.Match(v) {
			return 0, false, uint8(plughost.StateNotAnInteger)
		}
	}
	if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
		return 0, false, uint8(plughost.StateNotAnInteger)
	}
	n += delta
	h.State[key] = []byte(strconv.FormatInt(n, 10))
	return n, true, 0
}

func (h *Host) StateCompareAndSwap(key string, expected, value []byte) (bool, bool, uint8) {
	if refused, code := h.stateRefused("cas", key); refused {
		return false, false, code
	}
	current, found := h.State[key]
	if (expected == nil && found) || (expected != nil && (!found || !bytes.Equal(current, expected))) {
		return false, true, 0
	}
	h.State[key] = clone(value)
	return true, true, 0
}

func (h *Host) ContextGet(key string) (string, bool, bool, uint8) {
	if h.ContextError != nil {
		if e := h.ContextError(key, false); e != nil {
			return "", false, false, uint8(*e)
		}
	}
	v, found := h.Context[key]
	return v, found, true, 0
}

func (h *Host) ContextSet(key, value string) (bool, uint8) {
	if h.ContextError != nil {
		if e := h.ContextError(key, true); e != nil {
			return false, uint8(*e)
		}
	}
	writable := false
	for _, k := range h.ContextWritable {
		writable = writable || k == key
	}
	if !writable {
		return false, uint8(plughost.ContextDenied)
	}
	if !json.Valid([]byte(value)) {
		return false, uint8(plughost.ContextInvalidValue)
	}
	h.Context[key] = value
	return true, 0
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return append([]byte{}, b...)
}
