package server

import (
	"context"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/features"
)

// handleUpsertUsers takes user attributes: a JSON array, one object, or NDJSON
// of {"id","region","country","age_band","gender","tier","channels","labels"}.
// Fields left out keep their stored value; null clears one.
func (s *Server) handleUpsertUsers(ctx *fasthttp.RequestCtx) {
	var updates []features.AttributesUpdate
	_, e := s.records(ctx, func(i int, v *fastjson.Value) *apiError {
		var u features.AttributesUpdate
		if e := decodeAttributes(v, &u); e != nil {
			e.index = i
			return e
		}
		updates = append(updates, u)
		return nil
	})
	if e != nil {
		writeError(ctx, e)
		return
	}
	var err error
	if s.node != nil {
		var tok cluster.Token
		tok, _, err = s.node.UpsertAttributes(context.Background(), updates)
		setToken(ctx, tok)
	} else {
		err = s.svc.UpsertAttributes(updates)
	}
	if err != nil {
		s.logger.Printf("users: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "attributes could not be stored; nothing was applied, retry", index: -1})
		return
	}
	b := append(make([]byte, 0, 32), `{"upserted":`...)
	b = strconv.AppendInt(b, int64(len(updates)), 10)
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(append(b, "}\n"...))
}

const codeInvalidUser = "invalid_user"

func decodeAttributes(v *fastjson.Value, u *features.AttributesUpdate) *apiError {
	if v.Type() != fastjson.TypeObject {
		return badRequest(codeInvalidUser, "", "user must be a JSON object")
	}
	f := fields{v: v, code: codeInvalidUser}
	f.known("a user", "id", "region", "country", "age_band", "gender", "tier", "channels", "labels")
	u.User = f.id("id")
	if f.err == nil && u.User == "" {
		f.fail("id", "is required")
	}
	optStr := func(key string) *string {
		x := v.Get(key)
		if x == nil {
			return nil
		}
		s := ""
		if x.Type() != fastjson.TypeNull {
			s = f.str(key, 256)
		}
		return &s
	}
	u.Region = optStr("region")
	u.Country = optStr("country")
	u.AgeBand = optStr("age_band")
	u.Gender = optStr("gender")
	if x := v.Get("tier"); x != nil {
		t := 0
		if x.Type() != fastjson.TypeNull {
			t = f.integer("tier", 0)
		}
		u.Tier = &t
	}
	if x := v.Get("channels"); x != nil {
		chans := f.strs(x, "channels", 64, 64)
		if chans == nil {
			chans = []string{}
		}
		u.Channels = &chans
	}
	if x := v.Get("labels"); x != nil {
		labels := []features.Label{}
		switch x.Type() {
		case fastjson.TypeNull:
		case fastjson.TypeObject:
			o, _ := x.Object()
			o.Visit(func(k []byte, lv *fastjson.Value) {
				b, err := lv.StringBytes()
				if err != nil {
					f.fail("labels."+string(k), "must be a string")
					return
				}
				labels = append(labels, features.Label{Key: string(k), Value: string(b)})
			})
		default:
			f.fail("labels", "must be an object of strings")
		}
		u.Labels = &labels
	}
	if f.err != nil {
		return f.err
	}
	if err := u.Validate(); err != nil {
		var ae *features.AttributeError
		if errors.As(err, &ae) {
			return badRequest(codeInvalidUser, ae.Field, ae.Field+" "+ae.Message)
		}
		return badRequest(codeInvalidUser, "", err.Error())
	}
	return nil
}
