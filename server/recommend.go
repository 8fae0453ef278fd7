package server

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/audience"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/ident"
	"github.com/tailor-dev/tailor/internal/jsonw"
	"github.com/tailor-dev/tailor/learn"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/service"
)

// Limits of a recommend request.
const (
	defaultN   = 10
	maxN       = 100
	maxExclude = 1000
)

// recScratch is the pooled working memory of one recommend request.
type recScratch struct {
	req     ranker.Request
	res     ranker.Result
	aud     service.Audiences
	subj    audience.Subject
	ind     features.Indicators
	exclude []string
	ctxCat  []string
	filter  []string
	details bool // the answer carries each item's catalog facts
	out     []byte
}

func (s *Server) handleRecommend(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	sc := s.recs.Get().(*recScratch)
	defer s.recs.Put(sc)
	p := s.parsers.Get()
	defer s.parsers.Put(p)
	v, ok := parseBody(ctx, p)
	if !ok {
		return
	}
	user, e := decodeRecommend(v, sc)
	if e != nil {
		writeError(ctx, e)
		return
	}
	if after := v.GetStringBytes("after"); len(after) > 0 && !s.awaitToken(ctx, string(after)) {
		return
	}
	sc.subj.Indicators = &sc.ind
	dec, err := s.svc.Recommend(user, &sc.aud, &sc.subj, &sc.req, &sc.res)
	if err != nil {
		s.logger.Printf("recommend: %v", err)
		writeError(ctx, &apiError{status: fasthttp.StatusServiceUnavailable, code: codeUnavailable,
			message: "profile could not be read, retry", index: -1})
		return
	}
	sc.out = appendRecommendation(sc.out[:0], &sc.res, &dec, sc.details, time.Since(start))
	ctx.Response.Header.SetContentType("application/json")
	ctx.SetBody(sc.out)
}

// decodeRecommend reads a recommend request into sc.req. The strings it sets
// point into the request body: they are valid until the handler returns.
func decodeRecommend(v *fastjson.Value, sc *recScratch) (string, *apiError) {
	if v.Type() != fastjson.TypeObject {
		return "", badRequest(codeInvalidRequest, "", "body must be a JSON object")
	}
	req := &sc.req
	*req = ranker.Request{}
	sc.aud = service.Audiences{Boosts: sc.aud.Boosts[:0]}
	f := fields{v: v, code: codeInvalidRequest}
	f.known("a recommend request", "user", "n", "exclude", "context", "filter", "boost", "details", "after")
	if a := v.Get("after"); a != nil && a.Type() != fastjson.TypeString && a.Type() != fastjson.TypeNull {
		f.fail("after", "must be a token string from an events answer")
	}
	sc.details = f.boolean("details")
	user := f.view("user", maxUserBytes)
	if f.err == nil && user != "" {
		if p := ident.Problem(user); p != "" {
			f.fail("user", p)
		}
	}
	req.N = f.integer("n", defaultN)
	if f.err == nil && (req.N < 1 || req.N > maxN) {
		f.fail("n", "must be between 1 and "+strconv.Itoa(maxN))
	}
	sc.exclude = f.views(v.Get("exclude"), "exclude", sc.exclude[:0], maxExclude)
	req.Exclude = sc.exclude
	if c := v.Get("context"); c != nil && c.Type() != fastjson.TypeNull {
		if c.Type() != fastjson.TypeObject {
			f.fail("context", "must be an object")
		} else {
			cf := fields{v: c, code: codeInvalidRequest}
			cf.known("context", "item", "query", "category")
			req.ContextItem = cf.view("item", 256)
			req.ContextQuery = cf.view("query", maxQueryBytes)
			sc.ctxCat = cf.views(c.Get("category"), "category", sc.ctxCat[:0], 8)
			req.ContextCategory = sc.ctxCat
			if cf.err != nil && f.err == nil {
				f.err = cf.err
				f.err.field = "context." + f.err.field
				f.err.message = "context." + f.err.message
			}
		}
	}
	if fl := v.Get("filter"); fl != nil && fl.Type() != fastjson.TypeNull {
		if fl.Type() != fastjson.TypeObject {
			f.fail("filter", "must be an object")
		} else {
			ff := fields{v: fl, code: codeInvalidRequest}
			ff.known("filter", "category", "audience")
			sc.filter = ff.views(fl.Get("category"), "category", sc.filter[:0], 8)
			req.FilterCategory = sc.filter
			sc.aud.Filter = ff.view("audience", 128)
			if ff.err != nil && f.err == nil {
				f.err = ff.err
				f.err.field = "filter." + f.err.field
				f.err.message = "filter." + f.err.message
			}
		}
	}
	if b := v.Get("boost"); b != nil && b.Type() != fastjson.TypeNull && f.err == nil {
		arr, err := b.Array()
		if err != nil || len(arr) > 16 {
			f.fail("boost", "must be an array of at most 16 {\"audience\",\"category\",\"weight\"}")
		}
		for i, el := range arr {
			bf := fields{v: el, code: codeInvalidRequest}
			if el.Type() != fastjson.TypeObject {
				bf.fail("", "must be an object")
			}
			bf.known("a boost", "audience", "category", "weight")
			ab := service.AudienceBoost{Audience: bf.view("audience", 128)}
			ab.Boost.Category = bf.views(el.Get("category"), "category", nil, 8)
			ab.Boost.Weight = bf.num("weight", 1, -MaxWeight, MaxWeight)
			if bf.err == nil && (ab.Audience == "" || len(ab.Boost.Category) == 0) {
				bf.fail("audience", "and category are required")
			}
			if bf.err != nil && f.err == nil {
				f.err = bf.err
				f.err.field = "boost[" + strconv.Itoa(i) + "]." + f.err.field
				f.err.message = "boost[" + strconv.Itoa(i) + "]." + f.err.message
			}
			sc.aud.Boosts = append(sc.aud.Boosts, ab)
		}
	}
	return user, f.err
}

// view is str without a copy: the string shares the parser's memory.
func (f *fields) view(key string, max int) string {
	v := f.v.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return ""
	}
	b, err := v.StringBytes()
	if err != nil {
		f.fail(key, "must be a string")
		return ""
	}
	if len(b) > max {
		f.fail(key, "is longer than "+strconv.Itoa(max)+" bytes")
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// views is strs without copies, appending to dst.
func (f *fields) views(v *fastjson.Value, name string, dst []string, maxLen int) []string {
	if v == nil || v.Type() == fastjson.TypeNull {
		return dst
	}
	arr, err := v.Array()
	if err != nil {
		f.fail(name, "must be an array of strings")
		return dst
	}
	if len(arr) > maxLen {
		f.fail(name, "has more than "+strconv.Itoa(maxLen)+" entries")
		return dst
	}
	for i, el := range arr {
		b, err := el.StringBytes()
		if err != nil || len(b) == 0 || len(b) > 256 {
			f.fail(name+"["+strconv.Itoa(i)+"]", "must be a non-empty string of at most 256 bytes")
			return dst
		}
		dst = append(dst, unsafe.String(unsafe.SliceData(b), len(b)))
	}
	return dst
}

// appendRecommendation encodes a ranking, and the decision that logged it,
// as the recommend response; with details, each item's catalog facts too.
func appendRecommendation(b []byte, res *ranker.Result, dec *learn.Decision, details bool, took time.Duration) []byte {
	b = append(b, `{"items":[`...)
	for i := range res.Items {
		it := &res.Items[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonw.AppendString(b, it.Doc.Item.ID)
		b = append(b, `,"score":`...)
		b = jsonw.AppendFloat(b, it.Score)
		if details {
			b = appendItemFacts(b, &it.Doc.Item)
		}
		b = append(b, `,"reasons":[`...)
		for j := 0; j < it.NReasons; j++ {
			r := &it.Reasons[j]
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			b = jsonw.AppendString(b, r.Code)
			switch {
			case r.Item != "":
				b = append(b, `,"item":`...)
				b = jsonw.AppendString(b, r.Item)
			case r.Query != "":
				b = append(b, `,"query":`...)
				b = jsonw.AppendString(b, r.Query)
			case r.Category != "":
				b = append(b, `,"category":`...)
				b = jsonw.AppendString(b, r.Category)
			}
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"took_us":`...)
	b = strconv.AppendInt(b, took.Microseconds(), 10)
	if dec.RecID != 0 {
		b = append(b, `,"rec_id":"`...)
		b = dec.RecID.AppendTo(b)
		b = append(b, `","arm":`...)
		b = jsonw.AppendString(b, dec.Arm)
		if dec.Experiment != "" {
			b = append(b, `,"experiment":`...)
			b = jsonw.AppendString(b, dec.Experiment)
		}
	}
	return append(b, "}\n"...)
}

// appendItemFacts appends what a page needs to show an item, as the catalog
// holds it: ,"item":{"title","category","brand","tags","price","attrs"},
// leaving out what the item has not. attrs is the stored JSON object as is.
func appendItemFacts(b []byte, it *index.Item) []byte {
	b = append(b, `,"item":{"price":`...)
	b = jsonw.AppendFloat(b, it.Price)
	if it.Title != "" {
		b = append(b, `,"title":`...)
		b = jsonw.AppendString(b, it.Title)
	}
	if it.Brand != "" {
		b = append(b, `,"brand":`...)
		b = jsonw.AppendString(b, it.Brand)
	}
	b = appendStrings(b, "category", it.Category)
	b = appendStrings(b, "tags", it.Tags)
	if len(it.Attrs) > 0 {
		b = append(b, `,"attrs":`...)
		b = append(b, it.Attrs...)
	}
	return append(b, '}')
}

// appendStrings appends ,"key":[...list] unless list is empty.
func appendStrings(b []byte, key string, list []string) []byte {
	if len(list) == 0 {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":[`...)
	for i, v := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, v)
	}
	return append(b, ']')
}
