package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Item is one catalog item as POST /v1/items takes it.
type Item struct {
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Category  []string `json:"category"`
	Brand     string   `json:"brand"`
	Tags      []string `json:"tags,omitempty"`
	Price     float64  `json:"price"`
	Available bool     `json:"available"`
}

// Event is one behavioural event as POST /v1/events takes it.
type Event struct {
	ID      string  `json:"id"`
	User    string  `json:"user"`
	Type    string  `json:"type"`             // search, view, click, cart, purchase
	Item    string  `json:"item,omitempty"`   // all types but search
	Query   string  `json:"query,omitempty"`  // search only
	Amount  float64 `json:"amount,omitempty"` // purchase only: price * quantity
	TS      int64   `json:"ts,omitempty"`     // epoch milliseconds; 0: none, the server stamps arrival
	Session string  `json:"session,omitempty"`
}

// Options configure a World. Fields other than Seed that are zero (or
// negative) take their defaults; Seed 0 is an ordinary seed.
type Options struct {
	Items, Users    int       // catalog size and user count; default 1000 each
	Seed            int64     // seeds every random choice
	Start           time.Time // time of the earliest possible event; default 2026-01-01T00:00:00Z
	Days            int       // span of event times in days; default 30
	SessionsPerUser float64   // mean sessions per user, at least 1 each; default 3
}

// World is a generated catalog plus the parameters from which user events
// are derived on demand. It is read-only after New and safe for concurrent
// use.
type World struct {
	// Options are the options New was called with, defaults filled in.
	Options
	// Categories lists every leaf category path (top, middle, leaf) in tree
	// order; leaf indexes elsewhere in this package index this slice.
	Categories [][]string
	// Brands lists the brand names in a fixed order.
	Brands []string
	// Items is the catalog of w.Options.Items items (the field shadows the
	// count); Items[i].ID is fmt.Sprintf("i%06d", i). Items of the same
	// leaf share their Category slice, so treat it as read-only.
	Items []Item

	leaves    []leaf
	leafItems [][]int32 // per leaf, item indexes from most to least popular
	itemLeaf  []int32   // per item, its leaf
	zipfCum   []float64 // cumulative Zipf weights of ranks 0..max leaf size-1
}

// leaf is the generation data of one leaf category.
type leaf struct {
	top       int
	noun      string // English noun, as in titles
	lowerNoun string // English noun, as in queries
	cjk       string
	japanese  bool // cjk contains kana
	tags      []string
	median    float64
}

// Random streams, so that each part of the world draws independently.
const (
	streamCatalog = iota + 1
	streamInterests
	streamEvents
	streamCampaigns
	streamRecommend
	streamLive
	streamBids
)

const (
	zipfS          = 1.1  // Zipf exponent of popularity inside a leaf
	cjkShare       = 0.10 // share of items with a CJK title
	priceSigma     = 0.5  // log-normal spread of prices around the leaf median
	unavailability = 0.03 // share of items with Available == false
)

// newRand returns the generator of one stream for one key (a user, or 0).
func newRand(seed int64, stream, key uint64) *rand.Rand {
	a := mix(uint64(seed) ^ mix(stream))
	return rand.New(rand.NewPCG(a, mix(a^key)))
}

// mix is the SplitMix64 finalizer, used to spread nearby seeds apart.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (o Options) withDefaults() Options {
	if o.Items <= 0 {
		o.Items = 1000
	}
	if o.Users <= 0 {
		o.Users = 1000
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Days <= 0 {
		o.Days = 30
	}
	if o.SessionsPerUser <= 0 {
		o.SessionsPerUser = 3
	}
	return o
}

// New builds the world for opts: the category tree, the brands and the
// catalog. Events are not stored; they are generated on demand by Events.
func New(opts Options) *World {
	w := &World{Options: opts.withDefaults()}
	r := newRand(w.Seed, streamCatalog, 0)

	// Leaves, each weighted by its top category's popularity times a random
	// factor, so that leaf sizes vary from seed to seed.
	topIndex := map[string]int{}
	var weights []float64
	for t, top := range tree {
		topIndex[top.name] = t
		for _, mid := range top.mids {
			for _, ls := range mid.leaf {
				w.Categories = append(w.Categories, []string{top.name, mid.name, ls.name})
				w.leaves = append(w.leaves, leaf{
					top:       t,
					noun:      ls.noun,
					lowerNoun: strings.ToLower(ls.noun),
					cjk:       ls.cjk,
					japanese:  hasKana(ls.cjk),
					tags:      strings.Fields(ls.tags),
					median:    ls.median,
				})
				weights = append(weights, top.weight*math.Exp(0.6*r.NormFloat64()))
			}
		}
	}

	byTop := make([][]string, len(tree))
	for _, b := range brands {
		w.Brands = append(w.Brands, b.name)
		for _, t := range strings.Fields(b.tops) {
			i, ok := topIndex[t]
			if !ok {
				panic("synth: brand " + b.name + " has unknown category " + t)
			}
			byTop[i] = append(byTop[i], b.name)
		}
	}

	// Leaf of every item: with enough items every leaf gets one, in random
	// order; the rest follow the leaf weights.
	n := w.Options.Items
	w.itemLeaf = make([]int32, n)
	first := r.Perm(len(w.leaves))
	cum := cumulative(weights)
	for i := range w.itemLeaf {
		if i < len(first) {
			w.itemLeaf[i] = int32(first[i])
		} else {
			w.itemLeaf[i] = int32(sort.SearchFloat64s(cum, r.Float64()*cum[len(cum)-1]))
		}
	}

	w.Items = make([]Item, n)
	w.leafItems = make([][]int32, len(w.leaves))
	pick := make([]int, 0, 8)
	for i := range w.Items {
		l := w.itemLeaf[i]
		w.leafItems[l] = append(w.leafItems[l], int32(i))
		w.Items[i] = w.newItem(r, i, int(l), byTop, pick)
	}

	// Popularity order: a random permutation of each leaf's items, with
	// Zipf weights by rank.
	longest := 0
	for _, items := range w.leafItems {
		r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
		longest = max(longest, len(items))
	}
	zipf := make([]float64, longest)
	for k := range zipf {
		zipf[k] = math.Pow(float64(k+1), -zipfS)
	}
	w.zipfCum = cumulative(zipf)
	return w
}

// newItem draws item i of leaf l. scratch is reused for tag choice.
func (w *World) newItem(r *rand.Rand, i, l int, byTop [][]string, scratch []int) Item {
	lf := &w.leaves[l]
	candidates := byTop[lf.top]
	brand := candidates[r.IntN(len(candidates))]

	// 1-4 distinct tags; the first 0-2 of them also qualify the title.
	scratch = scratch[:0]
	for k := range lf.tags {
		scratch = append(scratch, k)
	}
	nTags := 1 + r.IntN(min(4, len(scratch)))
	tags := make([]string, nTags)
	for k := range tags {
		j := k + r.IntN(len(scratch)-k)
		scratch[k], scratch[j] = scratch[j], scratch[k]
		tags[k] = lf.tags[scratch[k]]
	}

	var title string
	if r.Float64() < cjkShare {
		adjectives := zhAdjectives
		if lf.japanese {
			adjectives = jaAdjectives
		}
		title = adjectives[r.IntN(len(adjectives))] + lf.cjk
		if r.IntN(2) == 0 {
			title = brand + " " + title
		}
	} else {
		var b strings.Builder
		b.WriteString(brand)
		for _, t := range tags[:r.IntN(min(2, nTags)+1)] {
			b.WriteByte(' ')
			b.WriteString(strings.ToUpper(t[:1]) + t[1:])
		}
		b.WriteByte(' ')
		b.WriteString(lf.noun)
		title = b.String()
	}

	price := lf.median * math.Exp(priceSigma*r.NormFloat64())
	return Item{
		ID:        fmt.Sprintf("i%06d", i),
		Title:     title,
		Category:  w.Categories[l],
		Brand:     brand,
		Tags:      tags,
		Price:     max(0.99, math.Round(price*100)/100),
		Available: r.Float64() >= unavailability,
	}
}

// PopularItem draws an item index (into w.Items) of leaf category leaf,
// Zipf-distributed over the leaf's fixed popularity order: the most popular
// item is drawn about 2^1.1 times as often as the second, and so on. It
// returns -1 if leaf is out of range or has no items (tiny catalogs).
func (w *World) PopularItem(r *rand.Rand, leaf int) int {
	if leaf < 0 || leaf >= len(w.leafItems) || len(w.leafItems[leaf]) == 0 {
		return -1
	}
	items := w.leafItems[leaf]
	cum := w.zipfCum[:len(items)]
	rank := sort.SearchFloat64s(cum, r.Float64()*cum[len(cum)-1])
	return int(items[rank])
}

// cumulative returns the running sums of ws.
func cumulative(ws []float64) []float64 {
	cum := make([]float64, len(ws))
	sum := 0.0
	for i, x := range ws {
		sum += x
		cum[i] = sum
	}
	return cum
}

func hasKana(s string) bool {
	for _, c := range s {
		if unicode.In(c, unicode.Hiragana, unicode.Katakana) {
			return true
		}
	}
	return false
}
