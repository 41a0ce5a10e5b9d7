// A test plugin: writes to stdout/stderr through fmt and println, which the
// SDK's stdio adapter turns into log records without importing wasi:filesystem
// (fmt, os, time and encoding/json all link in).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	plughost "plughost.dev/sdk"
)

func init() {
	plughost.Init(func(apiVersion, config string) int32 {
		if plughost.Register("print") != nil || plughost.Register("sleep") != nil || plughost.Register("config") != nil {
			return -3
		}
		return 0
	})
	plughost.OnEvent(func(event string, data []byte) int32 {
		switch event {
		case "print":
			fmt.Printf("to stdout: %s\n", data)
			fmt.Fprintln(os.Stderr, "to stderr")
			println("from println")
			return 0
		case "sleep":
			start := time.Now()
			time.Sleep(20 * time.Millisecond)
			return int32(time.Since(start).Milliseconds())
		case "config":
			v, ok := plughost.ConfigValue(string(data))
			if !ok {
				return -1
			}
			var parsed any
			if json.Unmarshal([]byte(v), &parsed) != nil {
				return -2
			}
			return int32(len(v))
		}
		return -100
	})
	plughost.OnHook(func(event string, data []byte) ([]byte, int32) {
		if event == "config" {
			return []byte(plughost.Config()), 0
		}
		return nil, -100
	})
}

func main() {}
