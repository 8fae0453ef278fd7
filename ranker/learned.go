package ranker

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tailor-dev/tailor/model"
)

// ClickModel is a learned click model. The ranker scores with it instead of
// the hand-set weights while it is warm. *model.Model implements it.
type ClickModel interface {
	// Snapshot returns the model to score one request with. It is never
	// nil; a snapshot that is not Warm is not used.
	Snapshot() *model.Snapshot
}

// Sources selects candidate sources, for experiments that switch some off.
type Sources uint16

// The candidate sources.
const (
	SourceCoVisit   Sources = 1 << iota // neighbours of the user's recent items
	SourceSearch                        // matches of the user's recent searches
	SourceCategory                      // popular items of the user's strongest categories
	SourceLifecycle                     // items due for replenishment, complements of a first purchase
	SourceContext                       // the request's context item, query and category
	SourceTrending                      // popular items overall (or in the filter category)
	SourceSessions                      // items of other users' sessions most like the user's recent ones
	AllSources      = SourceCoVisit | SourceSearch | SourceCategory | SourceLifecycle | SourceContext | SourceTrending | SourceSessions
)

var sourceNames = [...]string{"co_visit", "search", "category", "lifecycle", "context", "trending", "sessions"}

// ParseSource returns the source named s (co_visit, search, category,
// lifecycle, context, trending, sessions).
func ParseSource(s string) (Sources, bool) {
	for i, n := range sourceNames {
		if n == s {
			return 1 << i, true
		}
	}
	return 0, false
}

// String lists the sources, comma-separated.
func (s Sources) String() string {
	var b strings.Builder
	for i, n := range sourceNames {
		if s&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// applySources turns the sources Options leaves out into zero seeds.
func (o *Options) applySources() {
	if o.Sources == 0 {
		o.Sources = AllSources
	}
	if o.Sources&SourceCoVisit == 0 {
		o.RecentItems = 0
	}
	if o.Sources&SourceSearch == 0 {
		o.RecentQueries = 0
	}
	if o.Sources&SourceCategory == 0 {
		o.TopCategories = 0
	}
}

// FeatureNames name the ranker's features, in the order of their keys in
// the click model (namespace "f").
var FeatureNames = [numFeatures]string{"co_visit", "search", "category", "brand", "context", "popularity",
	"seen", "price", "complement", "replenish", "boost", "sessions"}

// Feature keys of the click model.
var (
	featureKeys = func() (k [numFeatures]uint32) {
		for i, n := range FeatureNames {
			k[i] = model.NS("f").Str(n).Key()
		}
		return k
	}()
	nsItem      = model.NS("item")
	nsCategory  = model.NS("cat")
	nsLifecycle = model.NS("seg_lifecycle")
	nsBand      = model.NS("seg_band")
	nsTopCat    = model.NS("seg_topcat")
	nsQueryTerm = model.NS("qterm")
	nsItemTerm  = model.NS("iterm")
	anonymous   = model.NS("seg_anonymous").Feature(1)
)

// Limits of the term crosses: query terms x item title terms.
const (
	maxQueryTerms = 3
	maxItemTerms  = 8
)

// learnScratch is the per-request memory of the click-model features.
type learnScratch struct {
	user  userKeys
	qhash []model.Hash
	vec   []model.Feature
}

// userKeys are the hashed segments of the request's user and its query
// terms, computed once per request.
type userKeys struct {
	known bool
	segs  [3]model.Hash
	nsegs int
	query [maxQueryTerms]model.Hash
	nq    int
}

// loadUserKeys fills s.user from the request: the user's lifecycle stage,
// price band and strongest category, and the terms of the context query or,
// without one, the user's strongest search terms.
func (r *Ranker) loadUserKeys(req *Request, s *scratch) {
	u := &s.user
	*u = userKeys{known: req.Profile != nil}
	if ind := req.Indicators; ind != nil {
		if ind.Lifecycle != "" {
			u.segs[u.nsegs] = nsLifecycle.Str(ind.Lifecycle)
			u.nsegs++
		}
		if ind.PriceBand != "" {
			u.segs[u.nsegs] = nsBand.Str(ind.PriceBand)
			u.nsegs++
		}
	}
	if p := req.Profile; p != nil {
		cats := topCategories(p.Categories, 1, s)
		if len(cats) > 0 {
			u.segs[u.nsegs] = nsTopCat.Str(cats[0])
			u.nsegs++
		}
	}
	if req.ContextQuery != "" {
		s.qhash = appendTermHashes(s.qhash[:0], nsQueryTerm, req.ContextQuery, maxQueryTerms)
		u.nq = copy(u.query[:], s.qhash)
	} else if p := req.Profile; p != nil {
		for i := 0; i < len(p.Terms) && u.nq < maxQueryTerms; i++ {
			u.query[u.nq] = nsQueryTerm.Str(p.Terms[i].Key)
			u.nq++
		}
	}
}

// appendVector appends candidate c's click-model features to dst: the bias,
// the named features, the item, its category, the user's segments crossed
// with the category, and query terms crossed with the item's title terms.
func (r *Ranker) appendVector(dst []model.Feature, c *cand, s *scratch) []model.Feature {
	dst = append(dst, model.Bias)
	for i, v := range c.f {
		if v != 0 {
			dst = append(dst, model.Feature{Key: featureKeys[i], Value: float32(v)})
		}
	}
	k := r.keys.get(r, &c.it)
	dst = append(dst, k.item)
	u := &s.user
	if !u.known {
		dst = append(dst, anonymous)
	}
	if k.hasCat {
		dst = append(dst, k.catF)
		for _, seg := range u.segs[:u.nsegs] {
			dst = append(dst, seg.Cross(k.cat).Feature(1))
		}
	}
	for _, q := range u.query[:u.nq] {
		for _, t := range k.terms[:k.nterms] {
			dst = append(dst, q.Cross(t).Feature(1))
		}
	}
	return dst
}

// learnedScores replaces the hand-set scores with the click model's log-odds
// when the ranker has a model and it is warm, and returns its version (0
// when the hand-set scores stand). It prepares the request's keys for
// fillFeatures too.
func (r *Ranker) learnedScores(req *Request, s *scratch) uint64 {
	if r.opts.Model == nil && !req.Features {
		return 0
	}
	r.loadUserKeys(req, s)
	if r.opts.Model == nil {
		return 0
	}
	snap := r.opts.Model.Snapshot()
	if !snap.Warm() {
		return 0
	}
	for i := range s.cands {
		c := &s.cands[i]
		s.vec = r.appendVector(s.vec[:0], c, s)
		c.score = snap.Logit(s.vec)
	}
	return snap.Version
}

// fillFeatures records the click-model features of the chosen items in res.
func (r *Ranker) fillFeatures(s *scratch, res *Result) {
	res.Features = res.Features[:0]
	res.FeatureEnds = res.FeatureEnds[:0]
	for i := range res.Items {
		o := res.Items[i].Doc.Ord
		if c := s.lookup(o); c != nil {
			res.Features = r.appendVector(res.Features, c, s)
		}
		res.FeatureEnds = append(res.FeatureEnds, int32(len(res.Features)))
	}
}

// ItemFeatures returns the click-model features Items[i] was ranked with,
// when the request asked for them.
func (res *Result) ItemFeatures(i int) []model.Feature {
	if i >= len(res.FeatureEnds) {
		return nil
	}
	start := int32(0)
	if i > 0 {
		start = res.FeatureEnds[i-1]
	}
	return res.Features[start:res.FeatureEnds[i]]
}

// appendTermHashes appends the hashes (in namespace ns) of at most max of the
// search terms of text, the same terms index.AppendTerms yields (lowercase
// letters and digits with a light plural fold, CJK as character bigrams),
// without allocating.
func appendTermHashes(dst []model.Hash, ns model.Hash, text string, max int) []model.Hash {
	var buf [64]byte
	i := 0
	for i < len(text) && len(dst) < max {
		r, w := utf8.DecodeRuneInString(text[i:])
		switch {
		case isCJKRune(r):
			j := i
			var starts [2]int
			runes := 0
			for j < len(text) && len(dst) < max {
				r2, w2 := utf8.DecodeRuneInString(text[j:])
				if !isCJKRune(r2) {
					break
				}
				if runes > 0 {
					dst = append(dst, ns.Str(text[starts[(runes-1)&1]:j+w2]))
				}
				starts[runes&1] = j
				j += w2
				runes++
			}
			if runes == 1 {
				dst = append(dst, ns.Str(text[i:j]))
			}
			i = j
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			n := 0
			j := i
			for j < len(text) {
				r2, w2 := utf8.DecodeRuneInString(text[j:])
				if isCJKRune(r2) || !(unicode.IsLetter(r2) || unicode.IsDigit(r2)) {
					break
				}
				if n+utf8.UTFMax <= len(buf) {
					n += utf8.EncodeRune(buf[n:], unicode.ToLower(r2))
				}
				j += w2
			}
			word := buf[:n]
			if k := len(word); k >= 4 && word[k-1] == 's' && word[k-2] != 's' && word[k-2] != 'u' && word[k-2] != 'i' {
				word = word[:k-1]
			}
			dst = append(dst, ns.Bytes(word))
			i = j
		default:
			i += w
		}
	}
	return dst
}

func isCJKRune(r rune) bool {
	if r < 0x1100 {
		return false
	}
	if r == 'ー' || r == '々' {
		return true
	}
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}
