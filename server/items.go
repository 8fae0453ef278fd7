package server

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/cluster"
	"github.com/tailor-dev/tailor/index"
)

func (s *Server) handleItems(ctx *fasthttp.RequestCtx) {
	var items []index.Item
	_, e := s.records(ctx, func(i int, v *fastjson.Value) *apiError {
		var it index.Item
		if e := decodeItem(v, &it); e != nil {
			e.index = i
			return e
		}
		items = append(items, it)
		return nil
	})
	if e != nil {
		writeError(ctx, e)
		return
	}
	tok, err := s.upsertItems(items)
	if err != nil {
		var ie *index.ItemError
		var fe *index.FieldError
		if errors.As(err, &ie) && errors.As(err, &fe) {
			e := badRequest(codeInvalidItem, fe.Field, fe.Field+" "+fe.Message)
			e.index = ie.Index
			writeError(ctx, e)
			return
		}
		s.logger.Printf("items: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "items could not be stored; nothing was applied, retry", index: -1})
		return
	}
	setToken(ctx, tok)
	b := append(make([]byte, 0, 32), `{"upserted":`...)
	b = strconv.AppendInt(b, int64(len(items)), 10)
	b = append(b, "}\n"...)
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(b)
}

// UpsertItems validates and stores catalog items; a batch with an invalid item
// changes nothing. On a cluster node the items are validated here and
// written to the cluster's log, from which every node applies them.
func (s *Server) UpsertItems(items []index.Item) error {
	_, err := s.upsertItems(items)
	return err
}

// upsertItems is UpsertItems that returns, on a cluster node, the token of
// the items' record.
func (s *Server) upsertItems(items []index.Item) (cluster.Token, error) {
	if s.node == nil {
		return cluster.Token{}, s.idx.Upsert(items)
	}
	for i := range items {
		if err := items[i].Validate(); err != nil {
			return cluster.Token{}, &index.ItemError{Index: i, Err: err}
		}
	}
	tok, _, err := s.node.AppendItems(context.Background(), items)
	return tok, err
}

// decodeItem reads one item object; Item.Validate checks the values.
func decodeItem(v *fastjson.Value, it *index.Item) *apiError {
	if v.Type() != fastjson.TypeObject {
		return badRequest(codeInvalidItem, "", "item must be a JSON object")
	}
	f := fields{v: v, code: codeInvalidItem}
	f.known("an item", "id", "title", "brand", "category", "tags", "price", "available", "attrs")
	it.ID = f.id("id")
	it.Title = f.str("title", index.MaxTitleBytes)
	it.Brand = f.str("brand", index.MaxTitleBytes)
	it.Category = f.strs(v.Get("category"), "category", index.MaxCategoryDepth, index.MaxTitleBytes)
	it.Tags = f.strs(v.Get("tags"), "tags", index.MaxTags, index.MaxTitleBytes)
	it.Price = f.num("price", 0, 0, MaxAmount)
	if a := v.Get("available"); a != nil && a.Type() != fastjson.TypeNull {
		b, err := a.Bool()
		if err != nil {
			f.fail("available", "must be true or false")
		}
		it.Available = &b
	}
	if a := v.Get("attrs"); a != nil && a.Type() != fastjson.TypeNull {
		if a.Type() != fastjson.TypeObject {
			f.fail("attrs", "must be an object")
		} else {
			it.Attrs = a.MarshalTo(nil)
		}
	}
	if f.err != nil {
		return f.err
	}
	if err := it.Validate(); err != nil {
		var fe *index.FieldError
		if errors.As(err, &fe) {
			return badRequest(codeInvalidItem, fe.Field, fe.Field+" "+fe.Message)
		}
		return badRequest(codeInvalidItem, "", err.Error())
	}
	return nil
}

func (s *Server) handleGetItem(ctx *fasthttp.RequestCtx, id string) {
	d, ok := s.idx.Get(id)
	if !ok {
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no item with this id", field: "id", index: -1})
		return
	}
	b, err := json.Marshal(&d.Item)
	if err != nil {
		panic(err) // an item that was stored always marshals
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

func (s *Server) handleDeleteItem(ctx *fasthttp.RequestCtx, id string) {
	var err error
	var tok cluster.Token
	if s.node == nil {
		err = s.idx.Delete(id)
	} else if _, ok := s.idx.Get(id); !ok {
		err = index.ErrNotFound
	} else {
		tok, _, err = s.node.DeleteItem(context.Background(), id)
	}
	setToken(ctx, tok)
	switch {
	case errors.Is(err, index.ErrNotFound):
		writeError(ctx, &apiError{status: fasthttp.StatusNotFound, code: codeNotFound, message: "no item with this id", field: "id", index: -1})
	case err != nil:
		s.logger.Printf("items: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable, message: "item could not be deleted, retry", index: -1})
	default:
		ctx.Response.Header.SetContentType("application/json")
		ctx.SetBodyString(`{"deleted":true}` + "\n")
	}
}
