package plughost_test

import (
	"errors"
	"testing"

	plughost "plughost.dev/sdk"
	"plughost.dev/sdk/plughosttest"
)

func TestHostCallsAndErrors(t *testing.T) {
	h := plughosttest.New(t)
	h.ConfigJSON = `{"greeting":"hi","n":3}`
	denied := plughost.RegisterDenied
	h.RegisterError = func(e string) *plughost.RegisterError {
		if e == "secret" {
			return &denied
		}
		return nil
	}
	full := plughost.MessageQueueFull
	h.EmitResult = func(e string, _ []byte) (uint32, *plughost.MessageError) {
		if e == "busy" {
			return 0, &full
		}
		return 2, nil
	}

	plughost.Log(plughost.Warn, "careful")
	if err := plughost.Register("ok"); err != nil {
		t.Fatal(err)
	}
	var re plughost.RegisterError
	if err := plughost.Register("bad name"); !errors.As(err, &re) || re != plughost.RegisterInvalidName {
		t.Fatalf("invalid name: %v", err)
	}
	if err := plughost.Register("secret"); err != plughost.RegisterDenied {
		t.Fatalf("denied: %v", err)
	}
	if n, err := plughost.Emit("news", []byte("x")); n != 2 || err != nil {
		t.Fatalf("emit: %d %v", n, err)
	}
	if _, err := plughost.Emit("busy", nil); err != plughost.MessageQueueFull {
		t.Fatalf("emit busy: %v", err)
	}
	if err := plughost.Send("other", "ping", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if plughost.Config() != `{"greeting":"hi","n":3}` {
		t.Fatal("config")
	}
	if v, ok := plughost.ConfigValue("n"); !ok || v != "3" {
		t.Fatalf("config value: %q %v", v, ok)
	}
	if _, ok := plughost.ConfigValue("missing"); ok {
		t.Fatal("missing config value found")
	}
	if len(h.Logs) != 1 || h.Logs[0].Level != plughost.Warn || h.Registered[0] != "ok" || h.Sent[0].Target != "other" {
		t.Fatalf("recorded: %+v", h)
	}
}

func TestDefaultHandlers(t *testing.T) {
	h := plughosttest.New(t)
	if h.Init("0.1.0", "{}") != 0 || h.Teardown() != 0 || h.Event("x", nil) != -100 {
		t.Fatal("defaults")
	}
	if _, s := h.Hook("x", nil); s != -100 {
		t.Fatal("hook default")
	}
}

func TestMetrics(t *testing.T) {
	h := plughosttest.New(t)
	jobs, err := plughost.DefineMetric(plughost.Counter, "jobs_total", "Jobs done", "queue")
	if err != nil {
		t.Fatal(err)
	}
	again, err := plughost.DefineMetric(plughost.Counter, "jobs_total", "Jobs done", "queue")
	if err != nil || again != jobs {
		t.Fatalf("same definition: %v %v", again, err)
	}
	if _, err := plughost.DefineMetric(plughost.Gauge, "jobs_total", ""); err != plughost.MetricConflict {
		t.Fatalf("conflict: %v", err)
	}
	if _, err := plughost.DefineMetric(plughost.Gauge, "9lives", ""); err != plughost.MetricInvalidName {
		t.Fatalf("invalid name: %v", err)
	}
	for _, q := range []string{"mail", "mail", "print"} {
		if err := jobs.Record(1, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := jobs.Record(-1, "mail"); err != plughost.MetricInvalidValue {
		t.Fatalf("negative counter: %v", err)
	}
	if err := jobs.Record(1); err != plughost.MetricInvalidLabels {
		t.Fatalf("labels: %v", err)
	}
	var me plughost.MetricError
	if err := jobs.Record(1, "a", "b"); !errors.As(err, &me) || me.Error() != "plughost: invalid label values" {
		t.Fatalf("labels: %v", err)
	}
	if h.Values["jobs_total,mail"] != 2 || h.Values["jobs_total,print"] != 1 {
		t.Fatalf("values: %v", h.Values)
	}
}

func TestRequestAndCurrentMessage(t *testing.T) {
	h := plughosttest.New(t)
	if _, found := plughost.CurrentMessage(); found {
		t.Fatal("a message outside a call")
	}
	rejected := plughost.RequestRejected
	h.Answer = func(target, event string, data []byte) ([]byte, *plughost.RequestError) {
		if event == "refuse" {
			return nil, &rejected
		}
		return append([]byte(target+":"), data...), nil
	}
	if out, err := plughost.Request("svc", "ask", []byte("hi"), 250); err != nil || string(out) != "svc:hi" {
		t.Fatalf("request: %q %v", out, err)
	}
	var re plughost.RequestError
	if _, err := plughost.Request("svc", "refuse", nil, 0); !errors.As(err, &re) || re != plughost.RequestRejected {
		t.Fatalf("refused: %v", err)
	}
	if _, err := plughost.Request("svc", "bad name", nil, 0); err != plughost.RequestInvalidName {
		t.Fatalf("invalid name: %v", err)
	}
	if len(h.Requests) != 2 || h.Requests[0].TimeoutMs != 250 || h.Requests[1].Event != "refuse" {
		t.Fatalf("recorded: %+v", h.Requests)
	}

	h.Current = &plughost.Message{ID: 7, ParentID: 3, HasParent: true, Source: "a", Event: "ask", Kind: plughost.KindRequest, Metadata: [][2]string{{"tenant", "t1"}}}
	m, found := plughost.CurrentMessage()
	if !found || m.ID != 7 || m.ParentID != 3 || m.Kind.String() != "request" || m.Target != "" {
		t.Fatalf("message: %+v", m)
	}
	if v, ok := m.Meta("tenant"); !ok || v != "t1" {
		t.Fatalf("meta: %q %v", v, ok)
	}
	if _, ok := m.Meta("missing"); ok {
		t.Fatal("missing meta found")
	}
}

func TestSuspendResumeHandlers(t *testing.T) {
	h := plughosttest.New(t)
	if h.Suspend() != 0 || h.Resume() != 0 {
		t.Fatal("without handlers, suspend and resume answer 0")
	}
	var told []string
	plughost.OnSuspend(func() int32 { told = append(told, "suspend"); return 7 })
	plughost.OnResume(func() int32 { told = append(told, "resume"); return 0 })
	defer plughost.OnSuspend(nil)
	defer plughost.OnResume(nil)
	if s := h.Suspend(); s != 7 {
		t.Fatalf("suspend status %d, want the handler's 7", s)
	}
	if s := h.Resume(); s != 0 {
		t.Fatalf("resume status %d", s)
	}
	if len(told) != 2 || told[0] != "suspend" || told[1] != "resume" {
		t.Fatalf("handlers told %v", told)
	}
}

func TestStateContextConfigAndHandoff(t *testing.T) {
	h := plughosttest.New(t)
	if err := plughost.StateSet("a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if v, found, err := plughost.StateGet("a"); !found || err != nil || string(v) != "1" {
		t.Fatalf("get a: %q %v %v", v, found, err)
	}
	if _, found, err := plughost.StateGet("nope"); found || err != nil {
		t.Fatalf("get nope: %v %v", found, err)
	}
	if n, err := plughost.StateIncrement("a", 41); n != 42 || err != nil {
		t.Fatalf("increment: %d %v", n, err)
	}
	if string(h.State["a"]) != "42" {
		t.Fatalf("stored as decimal text: %q", h.State["a"])
	}
	_ = plughost.StateSet("t", []byte("x"))
	if _, err := plughost.StateIncrement("t", 1); err != plughost.StateNotAnInteger {
		t.Fatalf("increment text: %v", err)
	}
	if ok, _ := plughost.StateCompareAndSwap("c", nil, []byte("v1")); !ok {
		t.Fatal("cas on missing")
	}
	if ok, _ := plughost.StateCompareAndSwap("c", nil, []byte("v2")); ok {
		t.Fatal("cas expecting missing on present")
	}
	if ok, _ := plughost.StateCompareAndSwap("c", []byte("v1"), []byte("v2")); !ok || string(h.State["c"]) != "v2" {
		t.Fatal("cas v1 -> v2")
	}
	page, err := plughost.StateListKeys("", 2)
	if err != nil || len(page.Keys) != 2 || page.Keys[0] != "a" || page.Keys[1] != "c" || !page.More {
		t.Fatalf("list page 1: %+v %v", page, err)
	}
	if page, _ = plughost.StateListKeys(page.Cursor, 2); len(page.Keys) != 1 || page.Keys[0] != "t" || page.More {
		t.Fatalf("list page 2: %+v", page)
	}
	if existed, _ := plughost.StateDelete("a"); !existed {
		t.Fatal("delete a")
	}
	if exists, _ := plughost.StateExists("a"); exists {
		t.Fatal("a after delete")
	}
	if err := plughost.StateSet("", nil); err != plughost.StateInvalidKey {
		t.Fatalf("empty key: %v", err)
	}
	quota := plughost.StateQuotaExceeded
	h.StateError = func(op, _ string) *plughost.StateError {
		if op == "set" {
			return &quota
		}
		return nil
	}
	var se plughost.StateError
	if err := plughost.StateSet("b", []byte("x")); !errors.As(err, &se) || se != plughost.StateQuotaExceeded {
		t.Fatalf("quota: %v", err)
	}

	h.Context["environment"] = `"staging"`
	h.ContextWritable = []string{"acme.tenant"}
	if v, found, err := plughost.ContextGet("environment"); !found || err != nil || v != `"staging"` {
		t.Fatalf("context get: %q %v %v", v, found, err)
	}
	if _, found, _ := plughost.ContextGet("request.id"); found {
		t.Fatal("request.id without a value")
	}
	if err := plughost.ContextSet("environment", `"x"`); err != plughost.ContextDenied {
		t.Fatalf("context set without write: %v", err)
	}
	if err := plughost.ContextSet("acme.tenant", `{"id":`); err != plughost.ContextInvalidValue {
		t.Fatalf("context set invalid JSON: %v", err)
	}
	if err := plughost.ContextSet("acme.tenant", `"t1"`); err != nil || h.Context["acme.tenant"] != `"t1"` {
		t.Fatalf("context set: %v", err)
	}

	// Without handlers: a new config is not taken (the host reloads), the snapshot is empty.
	if s := h.SetConfig(`{"n":1}`); s == 0 || h.Reloads != 1 || plughost.Config() != `{"n":1}` {
		t.Fatalf("default config handler: %d %d", s, h.Reloads)
	}
	if len(h.Snapshot()) != 0 || h.Restore([]byte("x")) != 0 {
		t.Fatal("default handoff")
	}
	var seen string
	var kept []byte
	plughost.OnConfigChanged(func(config string) int32 { seen = config; return 0 })
	plughost.OnSnapshot(func() []byte { return kept })
	plughost.OnRestore(func(data []byte) int32 { kept = data; return 0 })
	t.Cleanup(func() {
		plughost.OnConfigChanged(nil)
		plughost.OnSnapshot(nil)
		plughost.OnRestore(nil)
	})
	if s := h.SetConfig(`{"n":2}`); s != 0 || seen != `{"n":2}` || h.Reloads != 1 {
		t.Fatalf("config handler: %d %q", s, seen)
	}
	if h.Restore([]byte("carried")) != 0 || string(h.Snapshot()) != "carried" {
		t.Fatal("handoff handlers")
	}
}
