package eval

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync/atomic"
	"time"

	"github.com/tailor-dev/tailor/datasets"
	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/ranker"
	"github.com/tailor-dev/tailor/service"
)

// tailorRec is tailor itself, in process on a temporary data directory,
// with a clock the replay sets to each point's time. With learn, every list
// is logged as a decision, reported shown with an impression event, and the
// revealed events that hit it carry its rec_id: the click model learns
// online from the replay and scores once it is warm.
type tailorRec struct {
	name  string
	dir   string
	srv   *service.Service
	clock atomic.Int64
	learn bool
	req   ranker.Request
	res   ranker.Result
	buf   []features.Event
	list  []string
	recID string
}

// flushAt is how many events are buffered before an ingest when nothing
// asks for a recommendation in between.
const flushAt = 5000

func newTailor(name string, l *datasets.Log, opts *Options, learn bool) (*tailorRec, error) {
	dir, err := os.MkdirTemp(opts.TempDir, "tailor-eval-")
	if err != nil {
		return nil, err
	}
	t := &tailorRec{name: name, dir: dir, learn: learn}
	t.clock.Store(l.Events[0].TS)
	so := opts.Service
	so.Now = func() time.Time { return time.UnixMilli(t.clock.Load()) }
	so.Logger = log.New(io.Discard, "", 0)
	so.Storage.MinFreeBytes = -1 // a replay's scratch directory needs no ballast
	so.Learning.Disabled = false
	if learn {
		// Background sweeps would make the replay depend on the wall clock.
		so.Learning.SweepEvery = -1
	} else {
		so.Learning.Disabled = true
	}
	if t.srv, err = service.Open(dir, so); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	items := make([]index.Item, 0, 5000)
	for i, it := range l.Items {
		items = append(items, index.Item{ID: it.ID, Title: it.Title, Category: it.Category, Tags: it.Tags, Price: it.Price})
		if len(items) == cap(items) || i == len(l.Items)-1 {
			if err := t.srv.Index().Upsert(items); err != nil {
				t.Close()
				return nil, fmt.Errorf("loading the catalog: %w", err)
			}
			items = items[:0]
		}
	}
	return t, nil
}

func (t *tailorRec) Name() string { return t.name }

func (t *tailorRec) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.srv.Ingest(t.buf)
	clear(t.buf)
	t.buf = t.buf[:0]
	return err
}

func (t *tailorRec) prepare(q *Query) error {
	t.clock.Store(q.TS)
	return t.flush()
}

func (t *tailorRec) Recommend(q *Query) ([]string, error) {
	t.req = ranker.Request{N: q.K}
	if !q.Repeats {
		t.req.Exclude = q.Seen
	}
	dec, err := t.srv.Recommend(q.User, nil, nil, &t.req, &t.res)
	if err != nil {
		return nil, err
	}
	t.list = t.list[:0]
	for _, it := range t.res.Items {
		t.list = append(t.list, it.Doc.Item.ID)
	}
	t.recID = ""
	if dec.RecID != 0 {
		t.recID = dec.RecID.String()
	}
	return t.list, nil
}

func (t *tailorRec) Observe(events []datasets.Interaction, q *Query, list []string) error {
	learnFrom := t.learn && q != nil && t.recID != "" && len(list) > 0
	if learnFrom {
		t.buf = append(t.buf, features.Event{Type: features.Impression, User: q.User, RecID: t.recID,
			Items: append([]string(nil), list...), TS: q.TS})
	}
	for _, e := range events {
		typ, ok := features.ParseEventType(e.Type)
		if !ok || typ == features.Impression || typ == features.Search {
			return fmt.Errorf("event type %q", e.Type)
		}
		ev := features.Event{User: e.User, Type: typ, Item: e.Item, TS: e.TS, Amount: e.Amount, Session: e.Session}
		if learnFrom {
			for _, it := range list {
				if it == e.Item {
					ev.RecID = t.recID
					break
				}
			}
		}
		t.buf = append(t.buf, ev)
	}
	t.recID = ""
	if len(t.buf) >= flushAt {
		t.clock.Store(events[len(events)-1].TS)
		return t.flush()
	}
	return nil
}

func (t *tailorRec) Close() error {
	var err error
	if t.srv != nil {
		err = t.srv.Close()
	}
	os.RemoveAll(t.dir)
	return err
}
