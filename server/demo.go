package server

import (
	"fmt"

	"github.com/valyala/fastjson"

	"github.com/tailor-dev/tailor/features"
	"github.com/tailor-dev/tailor/index"
	"github.com/tailor-dev/tailor/internal/demo"
)

// LoadDemo loads the built-in demo catalog and users when the catalog is
// empty, through the same decoders as the API. It reports whether it loaded.
func (s *Server) LoadDemo() (bool, error) {
	if s.idx.Len() > 0 {
		return false, nil
	}
	var p fastjson.Parser
	v, err := p.ParseBytes(demo.ItemsJSON)
	if err != nil {
		return false, err
	}
	var items []index.Item
	for _, el := range v.GetArray() {
		var it index.Item
		if e := decodeItem(el, &it); e != nil {
			return false, fmt.Errorf("server: demo item: %v", e)
		}
		items = append(items, it)
	}
	if err := s.UpsertItems(items); err != nil {
		return false, err
	}
	v, err = p.ParseBytes(demo.EventsJSON)
	if err != nil {
		return false, err
	}
	arr := v.GetArray()
	now := s.now()
	var events []features.Event
	for i, el := range arr {
		var ev features.Event
		// A minute apart, the last one now.
		if e := decodeEvent(el, now-int64(len(arr)-1-i)*60_000, &ev); e != nil {
			return false, fmt.Errorf("server: demo event: %v", e)
		}
		events = append(events, ev)
	}
	_, err = s.svc.Ingest(events)
	return err == nil, err
}
