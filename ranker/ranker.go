package ranker

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/model"
)

// Weights are the coefficients of the linear score, one per named feature.
type Weights struct {
	CoVisit    float64 // seen together with the user's recent items
	Search     float64 // matches the user's recent searches
	Category   float64 // in the user's strong categories
	Brand      float64 // of the user's preferred brands
	Context    float64 // related to the request's context item, query or category
	Popularity float64 // popular lately
	Seen       float64 // the user saw it recently (usually negative)
	Price      float64 // priced for the user's band: below the category median for budget users, above for premium
	Complement float64 // seen together with a new customer's first purchase
	Replenish  float64 // the item a customer usually rebuys and is due to
	Boost      float64 // in a category the request boosts (scaled by each boost's weight)
	Sessions   float64 // held by the sessions of other users most like the user's recent ones
}

// field returns the weight of feature f (an index into FeatureNames).
func (w *Weights) field(f int) *float64 {
	return [numFeatures]*float64{fCoVisit: &w.CoVisit, fSearch: &w.Search, fCategory: &w.Category, fBrand: &w.Brand,
		fContext: &w.Context, fPopularity: &w.Popularity, fSeen: &w.Seen, fPrice: &w.Price,
		fComplement: &w.Complement, fReplenish: &w.Replenish, fBoost: &w.Boost, fSessions: &w.Sessions}[f]
}

// Set sets the weight of the feature called name (one of FeatureNames) to v,
// and reports whether there is such a feature.
func (w *Weights) Set(name string, v float64) bool {
	for f, n := range FeatureNames {
		if n == name {
			*w.field(f) = v
			return true
		}
	}
	return false
}

// ByName returns the weights by feature name (see FeatureNames).
func (w Weights) ByName() map[string]float64 {
	m := make(map[string]float64, numFeatures)
	for f, n := range FeatureNames {
		m[n] = *w.field(f)
	}
	return m
}

// DefaultWeights are hand-set weights that favour what the user just did.
var DefaultWeights = Weights{
	CoVisit:    1.0,
	Search:     0.8,
	Category:   0.6,
	Brand:      0.2,
	Context:    1.2,
	Popularity: 0.3,
	Seen:       -0.8,
	Price:      0.6,
	Complement: 0.8,
	Replenish:  5,
	Boost:      1,
	Sessions:   0.7,
}

// Options configures a Ranker. Zero fields take their defaults.
type Options struct {
	Weights Weights // default DefaultWeights
	// RecentItems is how many of the user's latest distinct items seed
	// co-visitation candidates. Default 20.
	RecentItems int
	// RecentQueries is how many of the user's latest distinct searches seed
	// text candidates. Default 3.
	RecentQueries int
	// TopCategories is how many of the user's strongest categories seed
	// popularity candidates. Default 3.
	TopCategories int
	// PerSource is how many candidates one seed contributes. Default 30.
	PerSource int
	// CoVisitShrink is added to the strongest co-visitation count when
	// normalizing a neighbour list, damping lists with little evidence.
	// Default 2.
	CoVisitShrink float64
	// SessionContext is how many of the user's latest distinct items make
	// the context that similar sessions are sought for. Default 30.
	SessionContext int
	// SessionDecay weighs a context item by exp(-b/SessionDecay), b
	// counting the context's items of later moments (STAN's λ1). Default 4.
	SessionDecay float64
	// SessionSample is how many of the latest sessions holding each
	// context item are candidates. Default 10.
	SessionSample int
	// SimilarSessions is how many of the most similar sessions vote.
	// Default 100.
	SimilarSessions int
	// SessionHalfLife halves a similar session's vote for each half-life
	// it is older than the newest of them (STAN's λ2). Default 30 days.
	SessionHalfLife time.Duration
	// MaxPerLeaf is the largest share of a slot one leaf category may take
	// when other candidates exist. Default 0.5.
	MaxPerLeaf float64
	// Sources are the candidate sources used. Default AllSources.
	Sources Sources
	// Model, when set, scores candidates instead of Weights while it is
	// warm. Default nil: the hand-set weights.
	Model ClickModel
	// Tuner, when set, supplies the weights in place of Weights and learns
	// them from the lists this ranker ranks for known users. Default nil:
	// the weights stay as set.
	Tuner *Tuner
}

func (o *Options) setDefaults() {
	if o.Weights == (Weights{}) {
		o.Weights = DefaultWeights
	}
	if o.RecentItems <= 0 {
		o.RecentItems = 20
	}
	if o.RecentQueries <= 0 {
		o.RecentQueries = 3
	}
	if o.TopCategories <= 0 {
		o.TopCategories = 3
	}
	if o.PerSource <= 0 {
		o.PerSource = 30
	}
	if o.CoVisitShrink <= 0 {
		o.CoVisitShrink = 2
	}
	if o.SessionContext <= 0 {
		o.SessionContext = 30
	}
	if o.SessionDecay <= 0 {
		o.SessionDecay = 4
	}
	if o.SessionSample <= 0 {
		o.SessionSample = 10
	}
	if o.SimilarSessions <= 0 {
		o.SimilarSessions = 100
	}
	if o.SessionHalfLife <= 0 {
		o.SessionHalfLife = 30 * 24 * time.Hour
	}
	if o.MaxPerLeaf <= 0 || o.MaxPerLeaf > 1 {
		o.MaxPerLeaf = 0.5
	}
	o.applySources()
}

// Reason codes, the vocabulary of explanations.
const (
	ViewedTogether   = "viewed_together"
	MatchesSearch    = "matches_search"
	CategoryAffinity = "category_affinity"
	ContextItem      = "context_item"
	ContextQuery     = "context_query"
	ContextCategory  = "context_category"
	Trending         = "trending"
	Complements      = "complements_purchase"
	Replenish        = "replenish"
	Boosted          = "boosted"
	SimilarSessions  = "similar_sessions"
)

// reasonCode is a reason code as candidates hold it.
type reasonCode uint8

const (
	codeViewedTogether reasonCode = iota
	codeMatchesSearch
	codeCategoryAffinity
	codeContextItem
	codeContextQuery
	codeContextCategory
	codeTrending
	codeComplements
	codeReplenish
	codeBoosted
	codeSimilarSessions
)

// reasonCodes names the codes.
var reasonCodes = [...]string{codeViewedTogether: ViewedTogether, codeMatchesSearch: MatchesSearch,
	codeCategoryAffinity: CategoryAffinity, codeContextItem: ContextItem, codeContextQuery: ContextQuery,
	codeContextCategory: ContextCategory, codeTrending: Trending, codeComplements: Complements,
	codeReplenish: Replenish, codeBoosted: Boosted, codeSimilarSessions: SimilarSessions}

// reason is a Reason as a candidate holds it, a third of the size: its
// subject (an item, a query or a category, as its code says) and its weight.
type reason struct {
	subject string
	weight  float64
	code    reasonCode
}

// public returns r as a Reason, its subject in the field its code calls for.
func (r *reason) public() Reason {
	out := Reason{Code: reasonCodes[r.code], weight: r.weight}
	switch r.code {
	case codeViewedTogether, codeContextItem, codeComplements, codeReplenish:
		out.Item = r.subject
	case codeMatchesSearch, codeContextQuery:
		out.Query = r.subject
	case codeCategoryAffinity, codeContextCategory, codeBoosted:
		out.Category = r.subject
	}
	return out
}

// Reason explains one thing that put an item in the list. Exactly one of Item,
// Query and Category is set, or none for Trending and SimilarSessions.
type Reason struct {
	Code     string
	Item     string
	Query    string
	Category string
	weight   float64
}

// MaxReasons is how many reasons an item carries at most.
const MaxReasons = 3

// Scored is one recommended item.
type Scored struct {
	Doc      *index.Doc
	Score    float64
	Reasons  [MaxReasons]Reason
	NReasons int
}

// Request is what to rank for.
type Request struct {
	Profile         *features.Profile // nil for an unknown user
	N               int               // items wanted, at least 1
	ContextItem     string
	ContextQuery    string
	ContextCategory []string
	Exclude         []string
	FilterCategory  []string // only items in this category or below
	Now             int64    // Unix milliseconds
	// Indicators, when set, personalize by price band and lifecycle: a
	// budget user sees value items first and a premium user premium ones, a
	// new customer complements of the first purchase, a customer due to
	// replenish the usual item.
	Indicators *features.Indicators
	// Boosts raise items of categories, for example those the request's
	// audiences call for.
	Boosts []Boost
	// Features asks for the click-model features of the items chosen, in
	// Result.Features, for the decision log.
	Features bool
}

// Boost raises the items of a category (or below) by Weight.
type Boost struct {
	Category []string
	Weight   float64
}

// Result holds a ranking. Reuse one across calls to avoid allocation.
type Result struct {
	Items []Scored
	// Model is the version of the click model that scored the items, 0 when
	// the hand-set weights did.
	Model uint64
	// Features are the click-model features of the items, when the request
	// asked for them: see ItemFeatures.
	Features    []model.Feature
	FeatureEnds []int32
}

// Ranker ranks items for requests. It is safe for concurrent use.
type Ranker struct {
	idx     *index.Index
	opts    Options
	scratch sync.Pool
	keys    keyCache
}

// New returns a Ranker over idx.
func New(idx *index.Index, opts Options) *Ranker {
	opts.setDefaults()
	r := &Ranker{idx: idx, opts: opts}
	r.scratch.New = func() any { return newScratch(idx) }
	return r
}

// feature indexes into cand.f.
const (
	fCoVisit = iota
	fSearch
	fCategory
	fBrand
	fContext
	fPopularity
	fSeen
	fPrice
	fComplement
	fReplenish
	fBoost
	fSessions
	numFeatures
)

type cand struct {
	ord     int32
	it      index.Facts // filled once every source has added its candidates
	f       [numFeatures]float64
	score   float64
	reasons [MaxReasons + 1]reason
	nr      int
}

// scratch is the per-request working memory, pooled.
type scratch struct {
	idx        *index.Index
	w          Weights // the request's weights
	gen        uint32
	table      candTable // ordinal -> its place in cands
	cands      []cand
	catGen     []uint32 // by category id
	catW       []float64
	brandGen   []uint32
	brandW     []float64
	hits       []index.Hit
	nbrs       []index.Neighbor
	terms      []string
	cats       []string
	leaves     []leafState // by category id
	tops       []rankEntry // the best candidates of each leaf, maxLeaf a leaf
	topN       []int32     // how many of each leaf's are in tops
	open       []rankEntry // the candidates that can be taken before the fill
	held       []rankEntry // the rest of over-full leaves, for the fill
	best       []rankEntry // the slot's n best, best first
	boostIDs   []int32
	ords       []int32
	latest     []latestItem // the user's distinct recent items, newest first
	ctxItems   []int32      // the context of similar sessions
	ctxWeights []float64    // what each of ctxItems weighs
	recent     []int32      // by index in the profile's Recent: the item's ordinal, -1 for a search or an unknown item
	facts      []index.Facts
	pops       []float64
	learnScratch
}

func newScratch(idx *index.Index) *scratch {
	return &scratch{idx: idx}
}

func (s *scratch) reset() {
	s.gen++
	if s.gen == 0 {
		clear(s.catGen)
		clear(s.brandGen)
		clear(s.leaves)
		s.gen = 1
	}
	if n := s.idx.Categories(); len(s.catGen) < n {
		s.catGen = append(s.catGen, make([]uint32, n-len(s.catGen))...)
		s.catW = append(s.catW, make([]float64, n-len(s.catW))...)
	}
	if n := s.idx.Brands(); len(s.brandGen) < n {
		s.brandGen = append(s.brandGen, make([]uint32, n-len(s.brandGen))...)
		s.brandW = append(s.brandW, make([]float64, n-len(s.brandW))...)
	}
	s.table.reset()
	s.cands = s.cands[:0]
}

// block keeps ord out of the candidates.
func (s *scratch) block(ord int32) {
	if ord < 0 {
		return
	}
	if e := s.table.find(ord); e.key == 0 {
		s.table.set(e, ord, -1)
	} else {
		e.at = -1
	}
}

// get returns the candidate for ord, adding it, or nil when it is blocked.
// Whether the item can be recommended is settled later, for all candidates at
// once (see describe).
func (s *scratch) get(ord int32) *cand {
	if ord < 0 {
		return nil
	}
	e := s.table.find(ord)
	if e.key != 0 {
		if e.at >= 0 {
			return &s.cands[e.at]
		}
		return nil
	}
	s.table.set(e, ord, int32(len(s.cands)))
	// A slot reused in place is reset field by field: its reasons past nr
	// and its facts (set by describe) are never read, and building a whole
	// zero cand to copy in costs more than the rest of get.
	if n := len(s.cands); n < cap(s.cands) {
		s.cands = s.cands[:n+1]
		c := &s.cands[n]
		c.ord, c.f, c.score, c.nr = ord, [numFeatures]float64{}, 0, 0
		return c
	}
	s.cands = append(s.cands, cand{ord: ord})
	return &s.cands[len(s.cands)-1]
}

// lookup returns the candidate for ord, or nil when ord is not one.
func (s *scratch) lookup(ord int32) *cand {
	if ord < 0 {
		return nil
	}
	if e := s.table.find(ord); e.key != 0 && e.at >= 0 {
		return &s.cands[e.at]
	}
	return nil
}

// describe loads the facts of every candidate in one pass over the catalog's
// dense array, drops those that cannot be recommended or are outside category
// filter (when it is not negative), and reads the popularity of the rest as
// of now into s.pops, in one pass too.
func (s *scratch) describe(filter int32, now int64) {
	s.ords = s.ords[:0]
	for i := range s.cands {
		s.ords = append(s.ords, s.cands[i].ord)
	}
	s.facts = s.idx.Describe(s.ords, s.facts[:0])
	// A dropped candidate takes the last one's place: one copy per drop
	// rather than one per candidate after the first drop. The order of the
	// candidates does not matter: choose ranks by score, then by id.
	n := len(s.cands)
	for i := 0; i < n; {
		f := &s.facts[i]
		if f.Doc != nil && f.Available && (filter < 0 || f.In(filter)) {
			s.cands[i].it = *f
			i++
			continue
		}
		s.table.find(s.cands[i].ord).at = -1
		n--
		if i != n {
			s.cands[i], s.facts[i], s.ords[i] = s.cands[n], s.facts[n], s.ords[n]
			s.table.find(s.cands[i].ord).at = int32(i)
		}
	}
	s.cands, s.ords = s.cands[:n], s.ords[:n]
	s.pops = s.idx.Popularities(s.ords, now, s.pops[:0])
}

func (c *cand) addReason(r reason) {
	for i := 0; i < c.nr; i++ {
		if c.reasons[i].code == r.code && c.reasons[i].subject == r.subject {
			c.reasons[i].weight += r.weight
			return
		}
	}
	if c.nr < len(c.reasons) {
		c.reasons[c.nr] = r
		c.nr++
		return
	}
	// Replace the weakest when this one says more.
	w := 0
	for i := 1; i < c.nr; i++ {
		if c.reasons[i].weight < c.reasons[w].weight {
			w = i
		}
	}
	if r.weight > c.reasons[w].weight {
		c.reasons[w] = r
	}
}

// Weights returns the weights the ranker ranks with now: its Tuner's when
// it has one, else those its options set.
func (r *Ranker) Weights() Weights {
	if r.opts.Tuner != nil {
		return *r.opts.Tuner.weights.Load()
	}
	return r.opts.Weights
}

// Rank fills res with up to req.N items for req.
func (r *Ranker) Rank(req *Request, res *Result) {
	s := r.scratch.Get().(*scratch)
	defer r.scratch.Put(s)
	s.reset()
	res.Items = res.Items[:0]
	res.Model = 0
	n := req.N
	if n <= 0 {
		return
	}
	s.w = r.Weights()
	w := &s.w
	p := req.Profile
	per := r.opts.PerSource
	if per < n {
		per = n
	}

	// Blocked: excluded, purchased, the context item itself.
	for _, id := range req.Exclude {
		if o, ok := r.idx.Ord(id); ok {
			s.block(o)
		}
	}
	if p != nil {
		for _, id := range p.Purchased {
			if isReplenish(req.Indicators, id) {
				continue // the usual item comes back when it is due
			}
			if o, ok := r.idx.Ord(id); ok {
				s.block(o)
			}
		}
	}
	if req.ContextItem != "" {
		if o, ok := r.idx.Ord(req.ContextItem); ok {
			s.block(o)
		}
	}
	var filter int32 = -1
	if len(req.FilterCategory) > 0 {
		id, ok := r.idx.CategoryID(joinPath(req.FilterCategory))
		if !ok {
			return // no item can be in a category the catalog does not have
		}
		filter = id
	}

	if p != nil {
		s.recent = s.recent[:0]
		for i := range p.Recent {
			o := int32(-1)
			if a := &p.Recent[i]; a.Type != features.Search {
				if v, ok := r.idx.Ord(a.Target); ok {
					o = v
				}
			}
			s.recent = append(s.recent, o)
		}
		n := r.opts.RecentItems
		if r.opts.Sources&SourceSessions != 0 {
			n = max(n, r.opts.SessionContext)
		}
		s.latestItems(p, n)
		r.userSources(req, s, per)
		if r.opts.Sources&SourceSessions != 0 {
			r.sessionSources(req, s, per)
		}
		if r.opts.Sources&SourceLifecycle != 0 {
			r.lifecycleSources(req, s, per)
		}
	}
	if r.opts.Sources&SourceContext != 0 {
		r.contextSources(req, s, per)
	}
	r.boostSources(req, s, per)

	// Trending, within the filter category when there is one, so that the slot
	// can always be filled; a filtered slot also lists the category's own
	// items, which popularity may not know yet.
	if filter >= 0 {
		s.ords = r.idx.CategoryItems(filter, per+n, s.ords[:0])
		for _, o := range s.ords {
			s.get(o)
		}
	}
	s.hits = r.idx.Popular(filter, per+n, req.Now, s.hits[:0])
	maxPop := 0.0
	for _, h := range s.hits {
		maxPop = math.Max(maxPop, h.Score)
	}
	trending := s.hits
	if r.opts.Sources&SourceTrending == 0 {
		trending = nil
	}
	for i, h := range trending {
		if c := s.get(h.Ord); c != nil && i < per {
			c.addReason(reason{code: codeTrending, weight: 0.05 * w.Popularity})
		}
	}
	if maxPop == 0 {
		maxPop = 1
	}

	// Features that every candidate gets, whatever its source.
	if p != nil {
		r.loadInterests(req, s)
	}
	s.describe(filter, req.Now)
	band := ""
	if req.Indicators != nil {
		band = req.Indicators.PriceBand
	}
	logMaxPop := math.Log1p(maxPop)
	for i := range s.cands {
		c := &s.cands[i]
		c.f[fPopularity] = math.Log1p(s.pops[i]) / logMaxPop
		if p != nil {
			r.affinity(c, s, w)
		}
		c.f[fPrice] = priceFit(&c.it, band)
		for j, id := range s.boostIDs {
			if id >= 0 && c.it.In(id) {
				c.f[fBoost] += req.Boosts[j].Weight
			}
		}
		c.score = w.CoVisit*c.f[fCoVisit] + w.Search*c.f[fSearch] + w.Category*c.f[fCategory] +
			w.Brand*c.f[fBrand] + w.Context*c.f[fContext] + w.Popularity*c.f[fPopularity] +
			w.Seen*c.f[fSeen] + w.Price*c.f[fPrice] + w.Complement*c.f[fComplement] +
			w.Replenish*c.f[fReplenish] + w.Boost*c.f[fBoost] + w.Sessions*c.f[fSessions]
	}
	if p != nil {
		for _, o := range s.recent {
			if c := s.lookup(o); c != nil {
				if c.f[fSeen] == 0 {
					c.f[fSeen] = 1
					c.score += w.Seen
				}
			}
		}
	}
	if r.opts.Tuner != nil && p != nil {
		r.opts.Tuner.offer(p.User, req.Now, s.cands)
	}
	res.Model = r.learnedScores(req, s)
	r.choose(s, n, res)
	if req.Features {
		r.fillFeatures(s, res)
	}
}

// latestItem is one of the user's distinct recent items.
type latestItem struct {
	at   int32 // its latest occurrence in the profile's Recent
	ord  int32
	step int32 // the user's moments after its own
	back int32 // the items listed before it, of later moments
}

// latestItems lists in s.latest the user's distinct recent items, newest
// first, at most n, leaving out searches and items the catalog does not
// know. Items of one moment (the lines of a basket) share step and back.
func (s *scratch) latestItems(p *features.Profile, n int) {
	s.latest = s.latest[:0]
	step, back, prevTS := int32(-1), int32(0), int64(math.MinInt64)
	for i := len(p.Recent) - 1; i >= 0 && len(s.latest) < n; i-- {
		o := s.recent[i]
		if o < 0 || slices.Contains(s.recent[i+1:], o) {
			continue // a search, an unknown item, or one seen again since
		}
		if ts := p.Recent[i].TS; ts != prevTS {
			step, back, prevTS = step+1, int32(len(s.latest)), ts
		}
		s.latest = append(s.latest, latestItem{at: int32(i), ord: o, step: step, back: back})
	}
}

// userSources adds candidates from the user's recent items, searches and
// strongest categories.
func (r *Ranker) userSources(req *Request, s *scratch, per int) {
	p := req.Profile
	// Neighbours of recent items, newest first, nearer ones weighing more;
	// items of one moment (the lines of a basket) weigh the same.
	for seed, it := range s.latest[:min(len(s.latest), r.opts.RecentItems)] {
		a := &p.Recent[it.at]
		rw := math.Pow(0.8, float64(it.step)) * intentBoost(a.Type)
		// Older seeds weigh less, so only their strongest neighbours can
		// still place: after ten seeds the list taken halves.
		k := max(per>>(seed/10), min(per, 8))
		s.nbrs = r.idx.Neighbors(it.ord, k, s.nbrs[:0])
		if len(s.nbrs) == 0 {
			continue
		}
		// Normalized by the strongest neighbour plus a shrinkage term, so that
		// an item seen together with few others says less than one with a
		// well-attested list.
		top := float64(s.nbrs[0].Weight) + r.opts.CoVisitShrink
		for _, nb := range s.nbrs {
			if c := s.get(nb.Ord); c != nil {
				v := rw * float64(nb.Weight) / top
				c.f[fCoVisit] += v
				c.addReason(reason{code: codeViewedTogether, subject: a.Target, weight: v * s.w.CoVisit})
			}
		}
	}
	// Matches of recent searches.
	seeds := 0
	for i := len(p.Recent) - 1; i >= 0 && seeds < r.opts.RecentQueries; i-- {
		a := &p.Recent[i]
		if a.Type != features.Search || seenBefore(p.Recent[i+1:], a.Target) {
			continue
		}
		rw := math.Pow(0.7, float64(seeds))
		seeds++
		r.addSearch(s, a.Target, per, rw, fSearch, codeMatchesSearch, s.w.Search)
	}
	// Popular items of the strongest categories.
	for _, key := range topCategories(p.Categories, r.opts.TopCategories, s) {
		id, ok := r.idx.CategoryID(key)
		if !ok {
			continue
		}
		s.hits = r.idx.Popular(id, per, req.Now, s.hits[:0])
		for _, h := range s.hits {
			if c := s.get(h.Ord); c != nil {
				c.addReason(reason{code: codeCategoryAffinity, subject: key, weight: 0.1})
			}
		}
	}
}

// sessionSources adds the items held by the sessions of other users most
// like the user's recent items (session-based nearest neighbours, as STAN
// weighs them): the latest items weigh most, a basket's lines alike.
func (r *Ranker) sessionSources(req *Request, s *scratch, per int) {
	s.ctxItems, s.ctxWeights = s.ctxItems[:0], s.ctxWeights[:0]
	for _, it := range s.latest[:min(len(s.latest), r.opts.SessionContext)] {
		s.ctxItems = append(s.ctxItems, it.ord)
		s.ctxWeights = append(s.ctxWeights, math.Exp(-float64(it.back)/r.opts.SessionDecay))
	}
	if len(s.ctxItems) == 0 {
		return
	}
	q := index.SessionQuery{User: req.Profile.User, Items: s.ctxItems, Weights: s.ctxWeights,
		Sample: r.opts.SessionSample, Neighbors: r.opts.SimilarSessions, HalfLife: r.opts.SessionHalfLife.Milliseconds()}
	s.hits = r.idx.SimilarSessions(&q, per, s.hits[:0])
	if len(s.hits) == 0 {
		return
	}
	top := s.hits[0].Score
	for _, h := range s.hits {
		if c := s.get(h.Ord); c != nil {
			v := h.Score / top
			c.f[fSessions] += v
			c.addReason(reason{code: codeSimilarSessions, weight: v * s.w.Sessions})
		}
	}
}

// lifecycleSources adds what a customer's stage calls for: the items due for
// replenishment, and for a new customer the complements of the first purchase.
func (r *Ranker) lifecycleSources(req *Request, s *scratch, per int) {
	ind := req.Indicators
	if ind == nil {
		return
	}
	for i, rep := range ind.Replenish {
		if i == 2 {
			break
		}
		if o, ok := r.idx.Ord(rep.Item); ok {
			if c := s.get(o); c != nil {
				c.f[fReplenish] = 1 - 0.1*float64(i)
				c.addReason(reason{code: codeReplenish, subject: rep.Item, weight: s.w.Replenish})
			}
		}
	}
	p := req.Profile
	if ind.Lifecycle != features.StageNew || len(p.Purchased) == 0 {
		return
	}
	first := p.Purchased[0]
	o, ok := r.idx.Ord(first)
	if !ok {
		return
	}
	s.nbrs = r.idx.Neighbors(o, per, s.nbrs[:0])
	if len(s.nbrs) == 0 {
		return
	}
	top := float64(s.nbrs[0].Weight) + r.opts.CoVisitShrink
	for _, nb := range s.nbrs {
		if c := s.get(nb.Ord); c != nil {
			v := float64(nb.Weight) / top
			c.f[fComplement] += v
			c.addReason(reason{code: codeComplements, subject: first, weight: v * s.w.Complement})
		}
	}
}

// boostSources resolves the boosted categories and adds their popular items.
func (r *Ranker) boostSources(req *Request, s *scratch, per int) {
	s.boostIDs = s.boostIDs[:0]
	for _, b := range req.Boosts {
		key := joinPath(b.Category)
		id, ok := r.idx.CategoryID(key)
		if !ok {
			s.boostIDs = append(s.boostIDs, -1)
			continue
		}
		s.boostIDs = append(s.boostIDs, id)
		s.hits = r.idx.Popular(id, per, req.Now, s.hits[:0])
		for _, h := range s.hits {
			if c := s.get(h.Ord); c != nil {
				c.addReason(reason{code: codeBoosted, subject: key, weight: b.Weight * s.w.Boost})
			}
		}
	}
}

// priceFit is how well an item suits a price band: for a budget user, how
// far below its category's median price it is, plus a bonus for deals; for a
// premium user, how far above, plus a bonus for service-rich items.
func priceFit(it *index.Facts, band string) float64 {
	if band != features.BandBudget && band != features.BandPremium {
		return 0
	}
	f := 0.0
	if it.PriceRatio > 0 {
		x := math.Log(it.PriceRatio)
		if band == features.BandBudget {
			x = -x
		}
		f = math.Max(-1, math.Min(x, 1))
	}
	if (band == features.BandBudget && it.Deal) || (band == features.BandPremium && it.Service) {
		f += 0.5
	}
	return f
}

func isReplenish(ind *features.Indicators, item string) bool {
	if ind == nil {
		return false
	}
	for _, r := range ind.Replenish {
		if r.Item == item {
			return true
		}
	}
	return false
}

// contextSources adds candidates related to the request's context.
func (r *Ranker) contextSources(req *Request, s *scratch, per int) {
	if req.ContextItem != "" {
		if o, ok := r.idx.Ord(req.ContextItem); ok {
			s.nbrs = r.idx.Neighbors(o, per, s.nbrs[:0])
			if len(s.nbrs) > 0 {
				top := float64(s.nbrs[0].Weight) + r.opts.CoVisitShrink
				for _, nb := range s.nbrs {
					if c := s.get(nb.Ord); c != nil {
						v := float64(nb.Weight) / top
						c.f[fContext] += v
						c.addReason(reason{code: codeContextItem, subject: req.ContextItem, weight: v * s.w.Context})
					}
				}
			}
			// Items of the same leaf category, for an item nobody has seen
			// together with anything yet.
			if d := r.idx.Doc(o); d != nil && d.Leaf() >= 0 {
				s.hits = r.idx.Popular(d.Leaf(), per, req.Now, s.hits[:0])
				for _, h := range s.hits {
					if c := s.get(h.Ord); c != nil {
						c.f[fContext] += 0.3
						c.addReason(reason{code: codeContextItem, subject: req.ContextItem, weight: 0.3 * s.w.Context})
					}
				}
				// A leaf nobody has browsed yet, in a new shop, still lists
				// its own items.
				if len(s.hits) < per {
					s.ords = r.idx.CategoryItems(d.Leaf(), per-len(s.hits), s.ords[:0])
					for _, o := range s.ords {
						if c := s.get(o); c != nil && c.f[fContext] == 0 {
							c.f[fContext] += 0.2
							c.addReason(reason{code: codeContextItem, subject: req.ContextItem, weight: 0.2 * s.w.Context})
						}
					}
				}
			}
		}
	}
	if req.ContextQuery != "" {
		r.addSearch(s, req.ContextQuery, per, 1, fContext, codeContextQuery, s.w.Context)
	}
	if len(req.ContextCategory) > 0 {
		key := joinPath(req.ContextCategory)
		if id, ok := r.idx.CategoryID(key); ok {
			s.hits = r.idx.Popular(id, per, req.Now, s.hits[:0])
			for _, h := range s.hits {
				if c := s.get(h.Ord); c != nil {
					c.f[fContext] += 0.5
					c.addReason(reason{code: codeContextCategory, subject: key, weight: 0.5 * s.w.Context})
				}
			}
			// A category nobody has browsed yet still lists its own items.
			if len(s.hits) < per {
				s.ords = r.idx.CategoryItems(id, per-len(s.hits), s.ords[:0])
				for _, o := range s.ords {
					if c := s.get(o); c != nil && c.f[fContext] == 0 {
						c.f[fContext] += 0.4
						c.addReason(reason{code: codeContextCategory, subject: key, weight: 0.4 * s.w.Context})
					}
				}
			}
		}
	}
}

// addSearch adds the text matches of query as candidates, their BM25 scores
// normalized by the best match and scaled by rw into feature f.
func (r *Ranker) addSearch(s *scratch, query string, per int, rw float64, f int, code reasonCode, weight float64) {
	s.terms = index.AppendTerms(s.terms[:0], query)
	s.hits = r.idx.Search(s.terms, per, s.hits[:0])
	if len(s.hits) == 0 {
		return
	}
	top := s.hits[0].Score
	for _, h := range s.hits {
		if c := s.get(h.Ord); c != nil {
			v := rw * h.Score / top
			c.f[f] += v
			c.addReason(reason{code: code, subject: query, weight: v * weight})
		}
	}
}

// loadInterests spreads the user's category and brand weights, normalized by
// the strongest, over dense arrays indexed by id.
func (r *Ranker) loadInterests(req *Request, s *scratch) {
	p := req.Profile
	if len(p.Categories) > 0 {
		top := float64(p.Categories[0].Weight)
		for _, iw := range p.Categories {
			if id, ok := r.idx.CategoryID(iw.Key); ok && int(id) < len(s.catGen) {
				s.catGen[id] = s.gen
				s.catW[id] = float64(iw.Weight) / top
			}
		}
	}
	if len(p.Brands) > 0 {
		top := float64(p.Brands[0].Weight)
		for _, iw := range p.Brands {
			if id, ok := r.idx.BrandID(iw.Key); ok && int(id) < len(s.brandGen) {
				s.brandGen[id] = s.gen
				s.brandW[id] = float64(iw.Weight) / top
			}
		}
	}
}

// affinity sets the category and brand features of c from the user's
// interests: the mean normalized weight over the levels of the item's path.
func (r *Ranker) affinity(c *cand, s *scratch, w *Weights) {
	path := c.it.Path()
	if n := len(path); n > 0 {
		sum := 0.0
		for _, id := range path {
			if int(id) < len(s.catGen) && s.catGen[id] == s.gen {
				sum += s.catW[id]
			}
		}
		c.f[fCategory] = sum / float64(n)
		if c.f[fCategory] >= 0.25 {
			// Name the deepest category the user is drawn to.
			for i := n - 1; i >= 0; i-- {
				id := path[i]
				if int(id) < len(s.catGen) && s.catGen[id] == s.gen && s.catW[id] >= 0.25 {
					c.addReason(reason{code: codeCategoryAffinity, subject: r.idx.CategoryKey(id), weight: c.f[fCategory] * w.Category * 0.5})
					break
				}
			}
		}
	}
	if b := c.it.Brand; b >= 0 && int(b) < len(s.brandGen) && s.brandGen[b] == s.gen {
		c.f[fBrand] = s.brandW[b]
	}
}

func scored(c *cand) Scored {
	out := Scored{Doc: c.it.Doc, Score: c.score}
	// Strongest reasons first.
	rs := c.reasons[:c.nr]
	slices.SortStableFunc(rs, func(a, b reason) int {
		switch {
		case a.weight > b.weight:
			return -1
		case a.weight < b.weight:
			return 1
		}
		return 0
	})
	out.NReasons = min(len(rs), MaxReasons)
	for i := range out.NReasons {
		out.Reasons[i] = rs[i].public()
	}
	return out
}

// topCategories returns the user's k strongest categories, preferring the most
// specific: a category replaces its ancestor when both are strong.
func topCategories(list []features.Weighted, k int, s *scratch) []string {
	s.cats = s.cats[:0]
	for _, iw := range list {
		replaced := false
		skip := false
		for j, c := range s.cats {
			switch {
			case strings.HasPrefix(iw.Key, c+"/"):
				s.cats[j] = iw.Key
				replaced = true
			case strings.HasPrefix(c, iw.Key+"/"):
				skip = true
			}
		}
		if replaced || skip {
			continue
		}
		if len(s.cats) == k {
			break
		}
		s.cats = append(s.cats, iw.Key)
	}
	return s.cats
}

func seenBefore(later []features.Action, target string) bool {
	for i := range later {
		if later[i].Target == target {
			return true
		}
	}
	return false
}

func intentBoost(t features.EventType) float64 {
	switch t {
	case features.Click:
		return 1.2
	case features.Cart:
		return 1.5
	}
	return 1
}

func joinPath(path []string) string {
	if len(path) == 1 {
		return path[0]
	}
	return strings.Join(path, "/")
}
