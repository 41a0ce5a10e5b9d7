// conformance-go: the conformance plugin, exactly as guest-sdks/CONFORMANCE.md
// specifies. `plughost conformance` checks the same cases on every SDK.
package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"strconv"
	"strings"

	plughost "plughost.dev/sdk"
)

var callbacks = []string{"echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message", "state", "context", "config", "remember", "recall"}

var (
	counter int32
	spins   uint64 // written on every turn, so the loop cannot be removed
	// remembered is what `remember` kept: the snapshot, and what restore sets.
	remembered []byte
	// config is the configuration received last (init's, then on-config-changed's).
	config string
)

// growMemory is memory.grow (grow_wasm.s): the previous size in pages, or -1.
func growMemory(pages int32) int32

func init() {
	plughost.Init(func(apiVersion, cfg string) int32 {
		if strings.Contains(cfg, `"fail-init":true`) {
			return -1
		}
		if !strings.HasPrefix(apiVersion, "0.") {
			return -2
		}
		config = cfg
		plughost.Log(plughost.Info, "conformance init "+apiVersion)
		for _, name := range callbacks {
			if plughost.Register(name) != nil {
				return -3
			}
		}
		return 0
	})

	plughost.Teardown(func() int32 {
		plughost.Log(plughost.Info, "conformance teardown")
		return 0
	})

	plughost.OnSuspend(func() int32 {
		plughost.Log(plughost.Info, "conformance suspended")
		return 0
	})

	plughost.OnResume(func() int32 {
		plughost.Log(plughost.Info, "conformance resumed")
		return 0
	})

	plughost.OnConfigChanged(func(cfg string) int32 {
		if strings.Contains(cfg, `"reject-change":true`) {
			plughost.Log(plughost.Info, "conformance config rejected")
			return 1
		}
		config = cfg
		plughost.Log(plughost.Info, "conformance config changed")
		return 0
	})

	plughost.OnSnapshot(func() []byte { return remembered })

	plughost.OnRestore(func(data []byte) int32 {
		plughost.Log(plughost.Info, "conformance restored "+strconv.Itoa(len(data)))
		remembered = data
		return 0
	})

	plughost.OnEvent(func(event string, data []byte) int32 {
		switch event {
		case "echo":
			return int32(len(data))
		case "sum":
			var sum uint32
			for _, b := range data {
				sum += uint32(b)
			}
			return int32(sum & 0x7fffffff)
		case "fail":
			return -7
		case "log":
			for _, level := range []plughost.Level{plughost.Debug, plughost.Info, plughost.Warn, plughost.Error} {
				plughost.Log(level, string(data))
			}
			return 0
		case "register":
			if err := plughost.Register(string(data)); err != nil {
				if re, ok := err.(plughost.RegisterError); ok {
					return int32(re) + 1
				}
				return -1
			}
			return 0
		case "trap":
			// The SDK turns a panic into a logged message and a Wasm trap.
			panic("conformance: trap requested")
		case "spin":
			for {
				spins++
			}
		case "grow":
			// Linear memory growth, outside Go's heap: Go's allocator treats
			// running out of memory as fatal, and this must be able to answer 1.
			if len(data) < 4 {
				return 1
			}
			mib := binary.LittleEndian.Uint32(data)
			if mib > 4096 || growMemory(int32(mib*16)) < 0 {
				return 1
			}
			return 0
		case "read-file":
			if _, err := os.ReadFile(string(data)); err != nil {
				return 1
			}
			return 0
		case "emit":
			n, err := plughost.Emit(string(data), data)
			if err != nil {
				if me, ok := err.(plughost.MessageError); ok {
					return -1 - int32(me)
				}
				return -1
			}
			return int32(n)
		case "counter":
			counter++
			return counter
		case "metric":
			m, err := plughost.DefineMetric(plughost.Counter, "conformance_bytes_total", "bytes seen by the metric event", "event")
			if err == nil {
				err = m.Record(float64(len(data)), string(data))
			}
			if me, ok := err.(plughost.MetricError); ok {
				return -1 - int32(me)
			}
			return 0
		case "request":
			answer, status, ok := request(data)
			if !ok {
				return -100
			}
			if status != 0 {
				return status
			}
			return int32(len(answer))
		case "message":
			text, found := envelope()
			if !found {
				return 1
			}
			plughost.Log(plughost.Info, text)
			return 0
		case "remember":
			remembered = append([]byte{}, data...)
			return int32(len(data))
		}
		return -100
	})

	plughost.OnHook(func(event string, data []byte) ([]byte, int32) {
		switch event {
		case "echo":
			return data, 0
		case "upper":
			out := make([]byte, len(data))
			for i, c := range data {
				if c >= 'a' && c <= 'z' {
					c -= 'a' - 'A'
				}
				out[i] = c
			}
			return out, 0
		case "fail":
			return nil, -7
		case "request":
			answer, status, ok := request(data)
			if !ok {
				return nil, -100
			}
			return answer, status
		case "message":
			text, found := envelope()
			if !found {
				return nil, 1
			}
			return []byte(text), 0
		case "state":
			return state(data)
		case "context":
			return contextHook(string(data))
		case "config":
			return []byte(config), 0
		case "recall":
			return remembered, 0
		}
		return nil, -100
	})
}

// request: data is "<target>\n<event>\n<payload>"; the answer, or the status
// -1 - request-error code; ok is false when data has fewer than two newlines.
func request(data []byte) (answer []byte, status int32, ok bool) {
	parts := bytes.SplitN(data, []byte{'\n'}, 3)
	if len(parts) < 3 {
		return nil, 0, false
	}
	out, err := plughost.Request(string(parts[0]), string(parts[1]), parts[2], 0)
	if err != nil {
		if re, isReq := err.(plughost.RequestError); isReq {
			return nil, -1 - int32(re), true
		}
		return nil, -1, true
	}
	return out, 0, true
}

func stateStatus(err error) int32 {
	if se, ok := err.(plughost.StateError); ok {
		return -1 - int32(se)
	}
	return -1
}

func yesNo(b bool) []byte {
	if b {
		return []byte("true")
	}
	return []byte("false")
}

// state is CONFORMANCE.md's `state` hook: "<op>\n<key>[\n<args>]".
func state(data []byte) ([]byte, int32) {
	op, rest, found := bytes.Cut(data, []byte{'\n'})
	if !found {
		return nil, -100
	}
	switch string(op) {
	case "get":
		v, found, err := plughost.StateGet(string(rest))
		if err != nil {
			return nil, stateStatus(err)
		}
		if !found {
			return nil, 1
		}
		return v, 0
	case "set":
		key, value, ok := bytes.Cut(rest, []byte{'\n'})
		if !ok {
			return nil, -100
		}
		if err := plughost.StateSet(string(key), value); err != nil {
			return nil, stateStatus(err)
		}
		return []byte{}, 0
	case "delete", "exists":
		f := plughost.StateDelete
		if string(op) == "exists" {
			f = plughost.StateExists
		}
		b, err := f(string(rest))
		if err != nil {
			return nil, stateStatus(err)
		}
		return yesNo(b), 0
	case "incr":
		key, delta, ok := bytes.Cut(rest, []byte{'\n'})
		d, err := strconv.ParseInt(string(delta), 10, 64)
		if !ok || err != nil {
			return nil, -100
		}
		n, err := plughost.StateIncrement(string(key), d)
		if err != nil {
			return nil, stateStatus(err)
		}
		return []byte(strconv.FormatInt(n, 10)), 0
	case "cas":
		parts := bytes.SplitN(rest, []byte{'\n'}, 3)
		if len(parts) < 3 || len(parts[1]) == 0 {
			return nil, -100
		}
		var expected []byte
		switch {
		case string(parts[1]) == "-":
		case parts[1][0] == '=':
			expected = append([]byte{}, parts[1][1:]...) // non-nil even when empty
		default:
			return nil, -100
		}
		stored, err := plughost.StateCompareAndSwap(string(parts[0]), expected, parts[2])
		if err != nil {
			return nil, stateStatus(err)
		}
		return yesNo(stored), 0
	case "list":
		limit, cursor, ok := bytes.Cut(rest, []byte{'\n'})
		n, err := strconv.ParseUint(string(limit), 10, 32)
		if !ok || err != nil {
			return nil, -100
		}
		page, err := plughost.StateListKeys(string(cursor), uint32(n))
		if err != nil {
			return nil, stateStatus(err)
		}
		var out strings.Builder
		for _, k := range page.Keys {
			out.WriteString(k + "\n")
		}
		if page.More {
			out.WriteString("next " + page.Cursor)
		} else {
			out.WriteString("end")
		}
		return []byte(out.String()), 0
	}
	return nil, -100
}

// contextHook is CONFORMANCE.md's `context` hook: "<key>" reads, "<key>=<json>" writes.
func contextHook(data string) ([]byte, int32) {
	status := func(err error) int32 {
		if ce, ok := err.(plughost.ContextError); ok {
			return -1 - int32(ce)
		}
		return -1
	}
	if key, json, isSet := strings.Cut(data, "="); isSet {
		if err := plughost.ContextSet(key, json); err != nil {
			return nil, status(err)
		}
		return []byte{}, 0
	}
	v, found, err := plughost.ContextGet(data)
	if err != nil {
		return nil, status(err)
	}
	if !found {
		return nil, 1
	}
	return []byte(v), 0
}

// envelope is the current message as CONFORMANCE.md's envelope text.
func envelope() (string, bool) {
	m, found := plughost.CurrentMessage()
	if !found {
		return "", false
	}
	lines := []string{"id " + strconv.FormatUint(m.ID, 10)}
	if m.HasParent {
		lines = append(lines, "parent "+strconv.FormatUint(m.ParentID, 10))
	}
	if m.Source != "" {
		lines = append(lines, "source "+m.Source)
	}
	if m.Target != "" {
		lines = append(lines, "target "+m.Target)
	}
	lines = append(lines, "event "+m.Event, "kind "+m.Kind.String())
	for _, kv := range m.Metadata {
		lines = append(lines, "meta "+kv[0]+"="+kv[1])
	}
	return strings.Join(lines, "\n"), true
}

func main() {}
