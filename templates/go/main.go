// {{name}}: a plughost plugin written in Go.
//
// It registers the event `greet`. As an event, `greet` logs a greeting and
// returns 0; as a hook, it returns the greeting as bytes. The greeting word
// comes from the plugin's config ("greeting", default "hello").
package main

import (
	"strconv"

	plughost "plughost.dev/sdk"
)

var greetingWord = "hello"

func greeting(data []byte) string {
	return greetingWord + ", " + string(data) + "!"
}

func init() {
	plughost.Init(func(apiVersion, config string) int32 {
		if v, ok := plughost.ConfigValue("greeting"); ok {
			if s, err := strconv.Unquote(v); err == nil {
				greetingWord = s
			}
		}
		plughost.Log(plughost.Info, "{{name}} ready (api "+apiVersion+")")
		if err := plughost.Register("greet"); err != nil {
			plughost.Log(plughost.Error, err.Error())
			return -3
		}
		return 0
	})
	plughost.OnEvent(func(event string, data []byte) int32 {
		if event != "greet" {
			return -100
		}
		plughost.Log(plughost.Info, greeting(data))
		return 0
	})
	plughost.OnHook(func(event string, data []byte) ([]byte, int32) {
		if event != "greet" {
			return nil, -100
		}
		return []byte(greeting(data)), 0
	})
}

// main is never called: the plugin is a WASI reactor, started by init().
func main() {}
