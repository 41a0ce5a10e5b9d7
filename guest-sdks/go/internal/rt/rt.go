// Package rt holds the guest-side state shared by the public API, the Wasm
// ABI (abi_wasip1.go) and the native test host (plughosttest): the handlers
// the plugin registered and the host the calls go to.
package rt

// Host is what the plugin can ask of the host: plughost:plugin/host.
// Error results are the WIT enum's index; ok reports the `ok` case.
type Host interface {
	Log(level uint8, msg string)
	RegisterCallback(event string) (ok bool, code uint8)
	Emit(event string, data []byte) (count uint32, ok bool, code uint8)
	Send(target, event string, data []byte) (ok bool, code uint8)
	GetConfig() string
	GetConfigValue(key string) (value string, found bool)
	DefineMetric(kind uint8, name, help string, labels []string) (id uint32, ok bool, code uint8)
	RecordMetric(id uint32, value float64, labels []string) (ok bool, code uint8)
	Request(target, event string, data []byte, timeoutMs uint32) (answer []byte, ok bool, code uint8)
	CurrentMessage() (msg Message, found bool)
	// State (state-*): code is a state-error case when ok is false.
	StateGet(key string) (value []byte, found bool, ok bool, code uint8)
	StateSet(key string, value []byte) (ok bool, code uint8)
	StateDelete(key string) (existed bool, ok bool, code uint8)
	StateExists(key string) (exists bool, ok bool, code uint8)
	StateListKeys(cursor string, hasCursor bool, limit uint32) (page KeyPage, ok bool, code uint8)
	StateIncrement(key string, delta int64) (value int64, ok bool, code uint8)
	// expected nil: only if the key is missing.
	StateCompareAndSwap(key string, expected []byte, value []byte) (stored bool, ok bool, code uint8)
	// Context (context-*): code is a context-error case when ok is false.
	ContextGet(key string) (json string, found bool, ok bool, code uint8)
	ContextSet(key, json string) (ok bool, code uint8)
}

// KeyPage is the WIT key-page record; HasCursor is false on the last page.
type KeyPage struct {
	Keys      []string
	Cursor    string
	HasCursor bool
}

// Message is the WIT message-info record: the envelope of the current call.
// Absent options are empty strings (plugin names are never empty) and
// HasParent false.
type Message struct {
	ID        uint64
	ParentID  uint64
	HasParent bool
	Source    string
	Target    string
	Event     string
	Kind      uint8 // message-kind: event 0, hook 1, request 2
	Metadata  [][2]string
}

var current Host = noHost{}

// SetHost replaces the host. The Wasm build installs the real one at start-up;
// tests install a fake.
func SetHost(h Host) { current = h }

// Current returns the host calls go to.
func Current() Host { return current }

// The handlers a plugin registers with plughost.Init and friends.
var (
	InitFn     func(apiVersion, config string) int32
	TeardownFn func() int32
	EventFn    func(event string, data []byte) int32
	HookFn     func(event string, data []byte) ([]byte, int32)
	// The optional lifecycle handlers (plughost.OnSuspend, plughost.OnResume).
	SuspendFn func() int32
	ResumeFn  func() int32
	// The optional config-watch and handoff handlers (plughost.OnConfigChanged,
	// plughost.OnSnapshot, plughost.OnRestore).
	ConfigChangedFn func(config string) int32
	SnapshotFn      func() []byte
	RestoreFn       func(data []byte) int32
)

// StatusConfigNotTaken is what on-config-changed answers without a handler:
// not 0, so the host reloads the plugin with the new configuration.
const StatusConfigNotTaken = 1

// CallConfigChanged runs the on-config-changed handler; StatusConfigNotTaken without one.
func CallConfigChanged(config string) int32 {
	if ConfigChangedFn == nil {
		return StatusConfigNotTaken
	}
	return ConfigChangedFn(config)
}

// CallSnapshot runs the snapshot handler; empty without one.
func CallSnapshot() []byte {
	if SnapshotFn == nil {
		return nil
	}
	return SnapshotFn()
}

// CallRestore runs the restore handler; 0 without one.
func CallRestore(data []byte) int32 {
	if RestoreFn == nil {
		return 0
	}
	return RestoreFn(data)
}

// StatusUnknownEvent is what an event or hook without a handler returns,
// as CONFORMANCE.md's "other" rows do.
const StatusUnknownEvent = -100

func CallInit(apiVersion, config string) int32 {
	if InitFn == nil {
		return 0
	}
	return InitFn(apiVersion, config)
}

func CallTeardown() int32 {
	if TeardownFn == nil {
		return 0
	}
	return TeardownFn()
}

// CallSuspend runs the on-suspend handler; 0 without one.
func CallSuspend() int32 {
	if SuspendFn == nil {
		return 0
	}
	return SuspendFn()
}

// CallResume runs the on-resume handler; 0 without one.
func CallResume() int32 {
	if ResumeFn == nil {
		return 0
	}
	return ResumeFn()
}

func CallEvent(event string, data []byte) int32 {
	if EventFn == nil {
		return StatusUnknownEvent
	}
	return EventFn(event, data)
}

func CallHook(event string, data []byte) ([]byte, int32) {
	if HookFn == nil {
		return nil, StatusUnknownEvent
	}
	return HookFn(event, data)
}

// noHost is the host outside Wasm when no test host is installed.
type noHost struct{}

func (noHost) fail() {
	panic("plughost: no host: this build is not running inside plughost; in tests, call plughosttest.New() first")
}
func (h noHost) Log(uint8, string)                         { h.fail() }
func (h noHost) RegisterCallback(string) (bool, uint8)     { h.fail(); return false, 0 }
func (h noHost) Emit(string, []byte) (uint32, bool, uint8) { h.fail(); return 0, false, 0 }
func (h noHost) Send(string, string, []byte) (bool, uint8) { h.fail(); return false, 0 }
func (h noHost) GetConfig() string                         { h.fail(); return "" }
func (h noHost) GetConfigValue(string) (string, bool)      { h.fail(); return "", false }
func (h noHost) DefineMetric(uint8, string, string, []string) (uint32, bool, uint8) {
	h.fail()
	return 0, false, 0
}
func (h noHost) RecordMetric(uint32, float64, []string) (bool, uint8) { h.fail(); return false, 0 }
func (h noHost) Request(string, string, []byte, uint32) ([]byte, bool, uint8) {
	h.fail()
	return nil, false, 0
}
func (h noHost) CurrentMessage() (Message, bool) { h.fail(); return Message{}, false }
func (h noHost) StateGet(string) ([]byte, bool, bool, uint8) {
	h.fail()
	return nil, false, false, 0
}
func (h noHost) StateSet(string, []byte) (bool, uint8)            { h.fail(); return false, 0 }
func (h noHost) StateDelete(string) (bool, bool, uint8)           { h.fail(); return false, false, 0 }
func (h noHost) StateExists(string) (bool, bool, uint8)           { h.fail(); return false, false, 0 }
func (h noHost) StateIncrement(string, int64) (int64, bool, uint8) { h.fail(); return 0, false, 0 }
func (h noHost) StateListKeys(string, bool, uint32) (KeyPage, bool, uint8) {
	h.fail()
	return KeyPage{}, false, 0
}
func (h noHost) StateCompareAndSwap(string, []byte, []byte) (bool, bool, uint8) {
	h.fail()
	return false, false, 0
}
func (h noHost) ContextGet(string) (string, bool, bool, uint8) { h.fail(); return "", false, false, 0 }
func (h noHost) ContextSet(string, string) (bool, uint8)       { h.fail(); return false, 0 }
