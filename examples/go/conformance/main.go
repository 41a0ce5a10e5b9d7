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

var callbacks = []string{"echo", "sum", "fail", "log", "register", "trap", "spin", "grow", "read-file", "emit", "counter", "upper", "metric", "request", "message"}

var (
	counter int32
	spins   uint64 // written on every turn, so the loop cannot be removed
)

// growMemory is memory.grow (grow_wasm.s): the previous size in pages, or -1.
func growMemory(pages int32) int32

func init() {
	plughost.Init(func(apiVersion, config string) int32 {
		if strings.Contains(config, `"fail-init":true`) {
			return -1
		}
		if !strings.HasPrefix(apiVersion, "0.") {
			return -2
		}
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
