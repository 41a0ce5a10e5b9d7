// transform: a hook that uppercases ASCII letters and leaves every other byte
// as it is. As an event, `transform` does nothing and returns 0.
package main

import plughost "plughost.dev/sdk"

func upper(data []byte) []byte {
	out := make([]byte, len(data))
	for i, c := range data {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func init() {
	plughost.Init(func(apiVersion, config string) int32 {
		if err := plughost.Register("transform"); err != nil {
			return -3
		}
		return 0
	})
	plughost.OnEvent(func(event string, data []byte) int32 {
		if event != "transform" {
			return -100
		}
		return 0
	})
	plughost.OnHook(func(event string, data []byte) ([]byte, int32) {
		if event != "transform" {
			return nil, -100
		}
		return upper(data), 0
	})
}

func main() {}
