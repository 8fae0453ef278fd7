package server

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestRecommendDetails asks for a slot with details: each item carries its
// catalog facts as stored (a page can show the slot at once), attrs as
// given; without details the answer is as before, ids and reasons only.
func TestRecommendDetails(t *testing.T) {
	ts := newTestServer(t)
	ts.loadCatalog()
	ts.mustPost("/v1/items", `{"id":"sock-1","title":"Merino \"Trail\" Socks","category":["Sports","Running","Socks"],`+
		`"brand":"Fellstride","tags":["trail","wool"],"price":18.5,"attrs":{"colour":"grey","sizes":[39,42]}}`)
	ts.mustPost("/v1/events", `[{"user":"u1","type":"view","item":"shoe-trail-1"},{"user":"u1","type":"view","item":"sock-1"},`+
		`{"user":"u2","type":"view","item":"shoe-trail-1"}]`)
	type facts struct {
		Title    string          `json:"title"`
		Brand    string          `json:"brand"`
		Category []string        `json:"category"`
		Tags     []string        `json:"tags"`
		Price    float64         `json:"price"`
		Attrs    json.RawMessage `json:"attrs"`
	}
	var answer struct {
		Items []struct {
			ID   string `json:"id"`
			Item *facts `json:"item"`
		} `json:"items"`
	}
	out := ts.mustPost("/v1/recommend", `{"user":"u2","n":20,"details":true}`)
	if err := json.Unmarshal([]byte(out), &answer); err != nil {
		t.Fatalf("answer %q: %v", out, err)
	}
	found := false
	for _, it := range answer.Items {
		if it.Item == nil {
			t.Fatalf("item %s has no facts in %s", it.ID, out)
		}
		if it.ID == "sock-1" {
			found = true
			want := facts{Title: `Merino "Trail" Socks`, Brand: "Fellstride", Category: []string{"Sports", "Running", "Socks"},
				Tags: []string{"trail", "wool"}, Price: 18.5, Attrs: json.RawMessage(`{"colour":"grey","sizes":[39,42]}`)}
			if !reflect.DeepEqual(*it.Item, want) {
				t.Errorf("sock-1 facts = %+v, want %+v", *it.Item, want)
			}
		}
	}
	if !found {
		t.Fatalf("sock-1, viewed with shoe-trail-1, is not in u2's slot: %s", out)
	}
	out = ts.mustPost("/v1/recommend", `{"user":"u2","n":20}`)
	answer.Items = nil
	if err := json.Unmarshal([]byte(out), &answer); err != nil || len(answer.Items) == 0 || answer.Items[0].Item != nil {
		t.Errorf("without details: %s, %v; want ids and reasons only", out, err)
	}
	code, body := ts.post("/v1/recommend", `{"details":"yes"}`)
	wantError(t, "details that is no boolean", code, body, 400, "invalid_request", "details")
}
