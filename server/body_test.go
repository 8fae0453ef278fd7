package server

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// TestBatchRefusedAtRecordLimit: a JSON array past the record limit is
// refused at the first record too many, without parsing the rest.
func TestBatchRefusedAtRecordLimit(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{MaxBatch: 100})
	ev := `{"user":"u1","type":"view","item":"i1"}`
	body := "[" + strings.Repeat(ev+",", 5000) + ev + "]"
	code, out := ts.post("/v1/events", body)
	wantError(t, "5,001 events", code, out, 400, "invalid_request", "")
	if !strings.Contains(out, "at most 100 records") {
		t.Errorf("answer %s, want it to name the limit", out)
	}
	if code, out := ts.post("/v1/events", "["+strings.Repeat(ev+",", 99)+ev+"]"); code != 200 {
		t.Errorf("100 events = %d %s, want 200", code, out)
	}
	for _, bad := range []string{"[", "[" + ev, "[" + ev + ",", "[" + ev + "]x", "[" + ev + " " + ev + "]", "[]", "[,]"} {
		code, out := ts.post("/v1/events", bad)
		wantError(t, "POST "+bad, code, out, 400, "", "")
	}
}

// TestRequestMemoryBounded: a 16 MB array of tiny elements costs the
// server a small multiple of its body, not the gigabytes a parse tree of
// millions of values would take.
func TestRequestMemoryBounded(t *testing.T) {
	ts := newTestServer(t)
	body := "[" + strings.Repeat(`{"user":"u1","type":"view","item":"i1"},`, 10000) + strings.Repeat("1,", 7<<20) + "1]"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code, out := ts.post("/v1/events", body)
	runtime.ReadMemStats(&after)
	wantError(t, "a 16 MB batch", code, out, 400, "invalid_request", "")
	// The client's copy of the body, the server's, the 10,000 events, and
	// whatever the other goroutines of a shuffled, race-checked test run
	// allocate meanwhile; a parse tree of the whole body would be 40x.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*uint64(len(body)) {
		t.Errorf("a %d-byte body allocated %d bytes, want at most 8x the body", len(body), got)
	}
}

func TestBodyLimits(t *testing.T) {
	ts := newTestServer(t)
	big := `{"user":"u1","exclude":["` + strings.Repeat("x", 300<<10) + `"]}`
	code, out := ts.post("/v1/recommend", big)
	wantError(t, "a 300 KiB recommend", code, out, 413, codeTooLarge, "")

	// A chunked body is cut off at the limit as it arrives.
	chunk := strings.Repeat("x", 64<<10)
	req := "POST /v1/recommend HTTP/1.1\r\nHost: tailor\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk), 5) + "0\r\n\r\n"
	code, out = ts.raw(req)
	wantError(t, "a chunked 320 KiB recommend", code, out, 413, codeTooLarge, "")

	// Under the limit, chunked works.
	small := `{"user":"u1","n":3}`
	code, _ = ts.raw(fmt.Sprintf("POST /v1/recommend HTTP/1.1\r\nHost: tailor\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(small), small))
	if code != 200 {
		t.Errorf("a small chunked recommend = %d, want 200", code)
	}
}

// TestInflightBodyBudget: while one large body is being received, another
// that would pass the budget is refused with 503; once the first is done,
// the second goes through.
func TestInflightBodyBudget(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, Options{MaxInflightBytes: 1 << 20})
	ev := `{"user":"u1","type":"view","item":"i1"}`
	first := "[" + strings.Repeat(ev+",", 20000) + ev + "]"
	conn, err := ts.ln.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	head := fmt.Sprintf("POST /v1/events HTTP/1.1\r\nHost: tailor\r\nContent-Length: %d\r\n\r\n", len(first))
	if _, err := conn.Write([]byte(head + first[:10<<10])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first body counted", func() bool { return ts.srv.inflightBody.Load() >= int64(len(first)) })
	second := "[" + strings.Repeat(ev+",", 9999) + ev + "]" // 400 KB: with the first, past 1 MiB
	code, out := ts.post("/v1/events", second)
	wantError(t, "a body past the in-flight budget", code, out, 503, "overloaded", "")
	if got := ts.counter("tailor_http_shed_total", "class", "body"); got != 1 {
		t.Errorf("tailor_http_shed_total{class=body} = %v, want 1", got)
	}
	if _, err := conn.Write([]byte(first[10<<10:])); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first body released", func() bool { return ts.srv.inflightBody.Load() == 0 })
	if code, out := ts.post("/v1/events", second); code != 200 {
		t.Errorf("the second body after the first = %d %s, want 200", code, out)
	}
}
