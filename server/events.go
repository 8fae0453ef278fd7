package server

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/features"
)

// Field limits of an event.
const (
	maxUserBytes  = 256
	maxQueryBytes = 1024
	// maxFuture is how far ahead of the server's clock an event may be stamped.
	maxFuture = 24 * time.Hour
)

func (s *Server) handleEvents(ctx *fasthttp.RequestCtx) {
	now := s.now()
	// Room for the records a body of this size likely holds (an event's
	// JSON is rarely under 100 bytes), so that a typical batch is decoded
	// into one allocation rather than grown into several.
	events := make([]features.Event, 0, min(len(ctx.PostBody())/100+1, s.opts.MaxBatch))
	_, e := s.records(ctx, func(i int, v *fastjson.Value) *apiError {
		var ev features.Event
		if e := decodeEvent(v, now, &ev); e != nil {
			e.index = i
			return e
		}
		events = append(events, ev)
		return nil
	})
	if e != nil {
		writeError(ctx, e)
		return
	}
	if s.node != nil {
		s.logEvents(ctx, events)
		return
	}
	res, err := s.svc.Ingest(events)
	if err != nil {
		s.logger.Printf("events: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "events could not be stored; nothing was applied, retry", index: -1})
		return
	}
	b := make([]byte, 0, 48)
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(res.Accepted), 10)
	b = append(b, `,"duplicates":`...)
	b = strconv.AppendInt(b, int64(res.Duplicates), 10)
	b = append(b, "}\n"...)
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(b)
}

// decodeEvent reads and validates one event object.
func decodeEvent(v *fastjson.Value, now int64, ev *features.Event) *apiError {
	if v.Type() != fastjson.TypeObject {
		return badRequest(codeInvalidEvent, "", "event must be a JSON object")
	}
	f := fields{v: v, code: codeInvalidEvent}
	f.known("an event", "id", "user", "type", "item", "query", "amount", "session", "channel", "rec_id", "ts", "items")
	ev.ID = f.id("id")
	ev.User = f.id("user")
	typ := f.str("type", 16)
	ev.Item = f.id("item")
	ev.Query = f.str("query", maxQueryBytes)
	ev.Amount = f.num("amount", 0, 0, MaxAmount)
	ev.Session = f.id("session")
	ev.Channel = f.str("channel", 32)
	ev.RecID = f.str("rec_id", 32)
	ev.TS = timestamp(&f, "ts", now)
	if f.err != nil {
		return f.err
	}
	switch {
	case ev.User == "" && typ != "impression":
		f.fail("user", "is required")
	case typ == "":
		f.fail("type", "is required")
	}
	if f.err != nil {
		return f.err
	}
	t, ok := features.ParseEventType(typ)
	if !ok {
		f.fail("type", "must be one of search, view, click, cart, purchase, impression")
		return f.err
	}
	ev.Type = t
	switch {
	case t == features.Search && ev.Query == "":
		f.fail("query", "is required for a search")
	case t != features.Search && t != features.Impression && ev.Item == "":
		f.fail("item", "is required for a "+typ)
	case ev.TS < 0:
		f.fail("ts", "must not be before 1970")
	case ev.TS > now+maxFuture.Milliseconds():
		f.fail("ts", "is more than 24h in the future")
	}
	if t == features.Search {
		ev.Item = ""
	} else {
		ev.Query = ""
	}
	decodeAttribution(&f, t, ev)
	return f.err
}

// timestamp reads an RFC 3339 string or epoch milliseconds; absent means now.
func timestamp(f *fields, key string, now int64) int64 {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return now
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		ms, err := v.Int64()
		if err != nil {
			f.fail(key, "must be epoch milliseconds (an integer) or an RFC 3339 string")
			return now
		}
		return ms
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		t, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil {
			if ms, err := strconv.ParseInt(string(b), 10, 64); err == nil {
				return ms
			}
			f.fail(key, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z or epoch milliseconds")
			return now
		}
		return t.UnixMilli()
	}
	f.fail(key, "must be epoch milliseconds (an integer) or an RFC 3339 string")
	return now
}
