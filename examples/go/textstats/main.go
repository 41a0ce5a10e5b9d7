// textstats: text statistics. The `textstats` hook returns a JSON object with
// the counts of bytes, words (runs of non-space bytes) and lines (newline
// characters, plus one for a last line without one) of its input. As an event
// it logs the same JSON at info level and returns the word count.
package main

import (
	"strconv"

	plughost "plughost.dev/sdk"
)

type stats struct{ bytes, words, lines int }

func count(data []byte) stats {
	s := stats{bytes: len(data)}
	inWord := false
	for _, c := range data {
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
		if !space && !inWord {
			s.words++
		}
		inWord = !space
		if c == '\n' {
			s.lines++
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		s.lines++
	}
	return s
}

// JSON by hand: encoding/json would pull in os and reflect for three integers.
func (s stats) json() []byte {
	b := []byte(`{"bytes":`)
	b = strconv.AppendInt(b, int64(s.bytes), 10)
	b = append(b, `,"words":`...)
	b = strconv.AppendInt(b, int64(s.words), 10)
	b = append(b, `,"lines":`...)
	b = strconv.AppendInt(b, int64(s.lines), 10)
	return append(b, '}')
}

func init() {
	plughost.Init(func(apiVersion, config string) int32 {
		if err := plughost.Register("textstats"); err != nil {
			return -3
		}
		return 0
	})
	plughost.OnEvent(func(event string, data []byte) int32 {
		if event != "textstats" {
			return -100
		}
		s := count(data)
		plughost.Log(plughost.Info, string(s.json()))
		return int32(s.words)
	})
	plughost.OnHook(func(event string, data []byte) ([]byte, int32) {
		if event != "textstats" {
			return nil, -100
		}
		return count(data).json(), 0
	})
}

func main() {}
