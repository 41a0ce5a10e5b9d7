// hello: logs on init, registers `greet`, and answers it: as an event it logs
// "hello, <data>!", as a hook it returns those bytes.
package main

import plughost "plughost.dev/sdk"

func greeting(data []byte) string { return "hello, " + string(data) + "!" }

func init() {
	plughost.Init(func(apiVersion, config string) int32 {
		plughost.Log(plughost.Info, "hello from Go (api "+apiVersion+")")
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
	plughost.Teardown(func() int32 {
		plughost.Log(plughost.Info, "goodbye from Go")
		return 0
	})
}

func main() {}
