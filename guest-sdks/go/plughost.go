// Package plughost is the Go guest SDK for plughost plugins: the
// plughost:plugin@0.1.0 world (wit/plugin.wit) for Go 1.24+ built with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
//
// A plugin is a main package that registers its handlers in init():
//
//	func init() {
//		plughost.Init(func(apiVersion, config string) int32 {
//			if err := plughost.Register("greet"); err != nil {
//				return -3
//			}
//			return 0
//		})
//		plughost.OnEvent(func(event string, data []byte) int32 { return 0 })
//	}
//
//	func main() {}
//
// main is never called: the module is a WASI reactor, and the component's
// start-up runs the Go runtime and package init() functions.
//
// Outside Wasm (go test), calls go to the fake host in plughost.dev/sdk/plughosttest.
package plughost

import "plughost.dev/sdk/internal/rt"

// APIVersion is the WIT contract this SDK implements.
const APIVersion = "0.1.0"

// Level is a log level, as the WIT log-level enum.
type Level uint8

const (
	Debug Level = iota
	Info
	Warn
	Error
)

func (l Level) String() string {
	switch l {
	case Debug:
		return "debug"
	case Info:
		return "info"
	case Warn:
		return "warn"
	case Error:
		return "error"
	}
	return "level(" + itoa(int(l)) + ")"
}

// Log writes msg to this plugin's logger.
func Log(level Level, msg string) { rt.Current().Log(uint8(level), msg) }

// RegisterError is why the host refused Register (WIT register-error).
type RegisterError uint8

const (
	RegisterInvalidName  RegisterError = iota // empty, over 128 bytes, or a character outside [A-Za-z0-9._:/-]
	RegisterLimitReached                      // the plugin holds the maximum number of callbacks
	RegisterDenied                            // events:subscribe:<name> is not granted
)

func (e RegisterError) Error() string {
	switch e {
	case RegisterInvalidName:
		return "plughost: register-callback: invalid event name"
	case RegisterLimitReached:
		return "plughost: register-callback: callback limit reached"
	case RegisterDenied:
		return "plughost: register-callback: denied"
	}
	return "plughost: register-callback: error " + itoa(int(e))
}

// MessageError is why the host refused Emit or Send (WIT message-error).
type MessageError uint8

const (
	MessageInvalidName   MessageError = iota // the event name is invalid
	MessageUnknownTarget                     // Send named a plugin that is not loaded and active
	MessageDenied                            // events:publish:<name> is not granted
	MessageQueueFull                         // the host's queue for this plugin is full
	MessageTooLarge                          // the payload is too large
)

func (e MessageError) Error() string {
	switch e {
	case MessageInvalidName:
		return "plughost: invalid event name"
	case MessageUnknownTarget:
		return "plughost: unknown target plugin"
	case MessageDenied:
		return "plughost: publishing denied"
	case MessageQueueFull:
		return "plughost: message queue full"
	case MessageTooLarge:
		return "plughost: payload too large"
	}
	return "plughost: message error " + itoa(int(e))
}

// Register asks the host to deliver event to OnEvent (and OnHook, for hook
// events). Registering a name twice is a no-op. The error is a RegisterError.
func Register(event string) error {
	if ok, code := rt.Current().RegisterCallback(event); !ok {
		return RegisterError(code)
	}
	return nil
}

// Emit publishes event to every other plugin registered for it, after the
// current call returns. It returns how many plugins it was queued for. The
// error is a MessageError.
func Emit(event string, data []byte) (uint32, error) {
	n, ok, code := rt.Current().Emit(event, data)
	if !ok {
		return 0, MessageError(code)
	}
	return n, nil
}

// Send queues event for one plugin, by name. The error is a MessageError.
func Send(target, event string, data []byte) error {
	if ok, code := rt.Current().Send(target, event, data); !ok {
		return MessageError(code)
	}
	return nil
}

// Config returns this plugin's configuration as a JSON object.
func Config() string { return rt.Current().GetConfig() }

// ConfigValue returns one top-level configuration value, JSON-encoded.
func ConfigValue(key string) (string, bool) { return rt.Current().GetConfigValue(key) }

// MetricKind is the kind of a plugin-defined metric (WIT metric-kind).
type MetricKind uint8

const (
	Counter   MetricKind = iota // Record adds its value, which must be >= 0
	Gauge                       // Record sets it
	Histogram                   // Record observes its value
)

// MetricError is why the host refused DefineMetric or Record (WIT metric-error).
type MetricError uint8

const (
	MetricDenied        MetricError = iota // the capability "metrics" is not granted
	MetricInvalidName                      // a metric or label name breaks the rules in docs/guest-go.md
	MetricInvalidLabels                    // the wrong number of label values, or one over 128 bytes
	MetricInvalidValue                     // NaN, infinite, or negative for a counter
	MetricLimitReached                     // too many metrics, label names or label combinations
	MetricConflict                         // the name was defined with another kind or other labels
	MetricUnknownMetric                    // no metric of this plugin has that id
)

func (e MetricError) Error() string {
	switch e {
	case MetricDenied:
		return "plughost: metrics denied (needs the capability \"metrics\")"
	case MetricInvalidName:
		return "plughost: invalid metric or label name"
	case MetricInvalidLabels:
		return "plughost: invalid label values"
	case MetricInvalidValue:
		return "plughost: invalid metric value"
	case MetricLimitReached:
		return "plughost: metric limit reached"
	case MetricConflict:
		return "plughost: metric defined differently before"
	case MetricUnknownMetric:
		return "plughost: unknown metric"
	}
	return "plughost: metric error " + itoa(int(e))
}

// Metric is a metric this plugin defined with DefineMetric.
type Metric struct{ id uint32 }

// DefineMetric defines one of this plugin's own metrics (the plugin needs the
// capability "metrics"). The host exports it as plugin_<plugin>_<name> with a
// `plugin` label besides labelNames. Defining the same name again with the
// same kind and labels returns the same metric. The error is a MetricError.
func DefineMetric(kind MetricKind, name, help string, labelNames ...string) (Metric, error) {
	id, ok, code := rt.Current().DefineMetric(uint8(kind), name, help, labelNames)
	if !ok {
		return Metric{}, MetricError(code)
	}
	return Metric{id}, nil
}

// ID is the id the host gave the metric.
func (m Metric) ID() uint32 { return m.id }

// Record adds value to a counter, sets a gauge to it, or observes it in a
// histogram; labelValues are in the order of the metric's label names. The
// error is a MetricError.
func (m Metric) Record(value float64, labelValues ...string) error {
	if ok, code := rt.Current().RecordMetric(m.id, value, labelValues); !ok {
		return MetricError(code)
	}
	return nil
}

// RequestError is why a Request failed (WIT request-error).
type RequestError uint8

const (
	RequestInvalidName   RequestError = iota // the event name is invalid, or the target name is empty or too long
	RequestUnknownTarget                     // no plugin or host service of that name is loaded and active
	RequestNotHandled                        // the target has not registered the event
	RequestDenied                            // events:publish:<event> is not granted
	RequestTooLarge                          // the payload or the answer is too large
	RequestCycle                             // the target is already waiting in this chain of requests
	RequestTooDeep                           // the chain of requests is as deep as the host allows
	RequestTimeout                           // no answer in time; a late answer is dropped
	RequestRejected                          // the target's hook answered a non-zero status
	RequestFailed                            // the target faulted or failed otherwise while answering
	RequestWouldBlock                        // the caller runs on the host's thread and the target cannot answer there and then
)

func (e RequestError) Error() string {
	switch e {
	case RequestInvalidName:
		return "plughost: request: invalid target or event name"
	case RequestUnknownTarget:
		return "plughost: request: unknown target"
	case RequestNotHandled:
		return "plughost: request: the target does not handle the event"
	case RequestDenied:
		return "plughost: request: publishing denied"
	case RequestTooLarge:
		return "plughost: request: payload or answer too large"
	case RequestCycle:
		return "plughost: request: cycle (the target is waiting on this chain)"
	case RequestTooDeep:
		return "plughost: request: chain of requests too deep"
	case RequestTimeout:
		return "plughost: request: timed out"
	case RequestRejected:
		return "plughost: request: rejected by the target"
	case RequestFailed:
		return "plughost: request: the target failed"
	case RequestWouldBlock:
		return "plughost: request: would block the host's thread"
	}
	return "plughost: request error " + itoa(int(e))
}

// Request asks target (a plugin or a host service) for an answer: the
// target's OnHook runs on data for event and its output is the answer (a
// non-zero status is RequestRejected). The plugin needs
// events:publish:<event>. It blocks until the answer, a refusal or the
// timeout; timeoutMs 0 is the host's default (5 s), and the host caps it. The
// error is a RequestError.
func Request(target, event string, data []byte, timeoutMs uint32) ([]byte, error) {
	answer, ok, code := rt.Current().Request(target, event, data, timeoutMs)
	if !ok {
		return nil, RequestError(code)
	}
	return answer, nil
}

// MessageKind is what kind of delivery a call is (WIT message-kind).
type MessageKind uint8

const (
	KindEvent   MessageKind = iota // dispatch, invoke, emit or send
	KindHook                       // a step of a hook chain
	KindRequest                    // a Request: the hook's output is the answer
)

func (k MessageKind) String() string {
	switch k {
	case KindEvent:
		return "event"
	case KindHook:
		return "hook"
	case KindRequest:
		return "request"
	}
	return "kind(" + itoa(int(k)) + ")"
}

// Message is the envelope of the message the current call handles (WIT
// message-info). Source is empty when the host sent it, Target empty for a
// broadcast (emit, dispatch, a hook chain); ParentID is set when HasParent.
type Message struct {
	ID        uint64
	ParentID  uint64
	HasParent bool
	Source    string
	Target    string
	Event     string
	Kind      MessageKind
	// Metadata is the host's string metadata, in order, as key/value pairs.
	Metadata [][2]string
}

// Meta returns the value of metadata key (the first, if it repeats).
func (m Message) Meta(key string) (string, bool) {
	for _, kv := range m.Metadata {
		if kv[0] == key {
			return kv[1], true
		}
	}
	return "", false
}

// CurrentMessage returns the envelope of the message the current call
// handles; found is false in Init and Teardown.
func CurrentMessage() (msg Message, found bool) {
	m, ok := rt.Current().CurrentMessage()
	if !ok {
		return Message{}, false
	}
	return Message{m.ID, m.ParentID, m.HasParent, m.Source, m.Target, m.Event, MessageKind(m.Kind), m.Metadata}, true
}

// StateError is why a state operation failed (WIT state-error). Nothing was written.
type StateError uint8

const (
	StateDenied        StateError = iota // the capability "state" is not granted
	StateInvalidKey                      // the key is empty or longer than 256 bytes
	StateTooLarge                        // the value is larger than the host accepts: 1 MiB unless lowered
	StateQuotaExceeded                   // the write would pass the plugin's quota: [limits] state, state-keys
	StateNotAnInteger                    // StateIncrement found no decimal int64, or the sum overflows
	StateUnavailable                     // the backend failed: a database error, Redis unreachable
)

func (e StateError) Error() string {
	switch e {
	case StateDenied:
		return "plughost: state: denied (needs the capability \"state\")"
	case StateInvalidKey:
		return "plughost: state: invalid key (1 to 256 bytes)"
	case StateTooLarge:
		return "plughost: state: value too large"
	case StateQuotaExceeded:
		return "plughost: state: quota exceeded"
	case StateNotAnInteger:
		return "plughost: state: not an integer"
	case StateUnavailable:
		return "plughost: state: backend unavailable"
	}
	return "plughost: state error " + itoa(int(e))
}

// StateGet returns the value under key in the plugin's own persistent state
// (the plugin needs the capability "state"); found is false when the key is
// missing. The host keeps the state across traps, restarts, reloads and host
// restarts. The error is a StateError.
func StateGet(key string) (value []byte, found bool, err error) {
	v, found, ok, code := rt.Current().StateGet(key)
	if !ok {
		return nil, false, StateError(code)
	}
	return v, found, nil
}

// StateSet stores value under key; it is durable when the current call returns.
func StateSet(key string, value []byte) error {
	if ok, code := rt.Current().StateSet(key, value); !ok {
		return StateError(code)
	}
	return nil
}

// StateDelete removes key; existed reports whether it was there.
func StateDelete(key string) (existed bool, err error) {
	existed, ok, code := rt.Current().StateDelete(key)
	if !ok {
		return false, StateError(code)
	}
	return existed, nil
}

// StateExists reports whether key holds a value.
func StateExists(key string) (bool, error) {
	exists, ok, code := rt.Current().StateExists(key)
	if !ok {
		return false, StateError(code)
	}
	return exists, nil
}

// KeyPage is one page of StateListKeys: Keys in byte order, and the Cursor to
// pass for the next page (More is false on the last page).
type KeyPage struct {
	Keys   []string
	Cursor string
	More   bool
}

// StateListKeys returns the plugin's keys in byte order after cursor ("": from
// the first), at most limit of them (0: the host's default of 100; the host
// caps it at 1,000).
func StateListKeys(cursor string, limit uint32) (KeyPage, error) {
	page, ok, code := rt.Current().StateListKeys(cursor, cursor != "", limit)
	if !ok {
		return KeyPage{}, StateError(code)
	}
	return KeyPage{Keys: page.Keys, Cursor: page.Cursor, More: page.HasCursor}, nil
}

// StateIncrement adds delta to the integer under key (stored as decimal text; a
// missing key counts as 0) and returns the new value, atomically.
func StateIncrement(key string, delta int64) (int64, error) {
	v, ok, code := rt.Current().StateIncrement(key, delta)
	if !ok {
		return 0, StateError(code)
	}
	return v, nil
}

// StateCompareAndSwap stores value under key only if it holds expected now,
// atomically, and reports whether it did. A nil expected means "only if the
// key is missing"; an empty non-nil slice matches an empty value.
func StateCompareAndSwap(key string, expected, value []byte) (stored bool, err error) {
	stored, ok, code := rt.Current().StateCompareAndSwap(key, expected, value)
	if !ok {
		return false, StateError(code)
	}
	return stored, nil
}

// ContextError is why a context read or write failed (WIT context-error).
type ContextError uint8

const (
	ContextDenied       ContextError = iota // context:<key> or context:write:<key> is not granted
	ContextUnknownKey                       // the host defines no such key
	ContextInvalidValue                     // not JSON, or not what the key's schema accepts
	ContextReadOnly                         // a predefined key or one the host keeps for itself
)

func (e ContextError) Error() string {
	switch e {
	case ContextDenied:
		return "plughost: context: denied"
	case ContextUnknownKey:
		return "plughost: context: unknown key"
	case ContextInvalidValue:
		return "plughost: context: invalid value"
	case ContextReadOnly:
		return "plughost: context: read-only key"
	}
	return "plughost: context error " + itoa(int(e))
}

// ContextGet returns a context value as JSON (the plugin needs
// context:<key>); found is false when the key has no value now (request.id
// outside a request). Predefined keys: host.name, host.version, environment,
// plugin.data-dir, request.id, user.id, session.id. The error is a ContextError.
func ContextGet(key string) (json string, found bool, err error) {
	v, found, ok, code := rt.Current().ContextGet(key)
	if !ok {
		return "", false, ContextError(code)
	}
	return v, found, nil
}

// ContextSet sets a context value from JSON, checked against the key's
// schema (the plugin needs context:write:<key>). The error is a ContextError.
func ContextSet(key, json string) error {
	if ok, code := rt.Current().ContextSet(key, json); !ok {
		return ContextError(code)
	}
	return nil
}

// Init sets the handler for init(api-version, config). Register callbacks in
// it and return 0; any other status fails the load. Without it, init returns 0.
func Init(fn func(apiVersion, config string) int32) { rt.InitFn = fn }

// Teardown sets the handler for teardown(). Without it, teardown returns 0.
func Teardown(fn func() int32) { rt.TeardownFn = fn }

// OnSuspend sets the handler the host calls when it suspends the plugin (no
// calls arrive until it resumes it). Return 0; another status is logged and
// the plugin is suspended all the same. Without it, the host is answered 0.
func OnSuspend(fn func() int32) { rt.SuspendFn = fn }

// OnResume sets the handler the host calls when it resumes the plugin after a
// suspend. Return 0; another status is logged. Without it, the host is answered 0.
func OnResume(fn func() int32) { rt.ResumeFn = fn }

// OnConfigChanged sets the handler the host calls when the plugin's
// configuration changes while it runs (registry.setConfig, a watched config
// file): config is the whole new configuration as JSON, which Config returns
// from now on too. Return 0 to take it; any other status and the host reloads
// the plugin with it. Without it, the host is answered 1 and reloads the plugin.
func OnConfigChanged(fn func(config string) int32) { rt.ConfigChangedFn = fn }

// OnSnapshot sets the handler that returns the in-memory state to carry to
// the next instance: the host calls it before a hot reload, a restart, an
// unload and when it closes, keeps the bytes, and passes them to OnRestore's
// handler in the next instance after Init. Without it the snapshot is empty
// (nothing is carried).
func OnSnapshot(fn func() []byte) { rt.SnapshotFn = fn }

// OnRestore sets the handler that takes an earlier instance's snapshot,
// after Init. Return 0; another status is logged. Without it, 0.
func OnRestore(fn func(data []byte) int32) { rt.RestoreFn = fn }

// OnEvent sets the handler for events the plugin registered. It returns a
// status, 0 meaning success. Without it, every event returns -100.
func OnEvent(fn func(event string, data []byte) int32) { rt.EventFn = fn }

// OnHook sets the handler for hooks: return the transformed bytes and 0, or a
// non-zero status to fail the hook (the chain stops with it). The returned
// slice may alias data. Without it, every hook fails with -100.
func OnHook(fn func(event string, data []byte) ([]byte, int32)) { rt.HookFn = fn }

// itoa avoids strconv/fmt to keep tiny plugins tiny.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
