// Package layers holds a test that keeps the dependency direction of the
// packages honest: cmd -> server -> service -> {ranker, auction, learn, ...}
// -> {features, index}.
package layers

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/tailor-dev/tailor/"

// forbidden lists, for each package, the project packages it must not import
// (directly or not).
var forbidden = map[string][]string{
	"features":       {"index", "ranker", "service", "server", "cmd/tailor", "bench"},
	"index":          {"features", "campaign", "ranker", "service", "server", "cmd/tailor", "bench"},
	"campaign":       {"features", "ranker", "ledger", "service", "server", "cmd/tailor", "bench"},
	"ranker":         {"ledger", "campaign", "auction", "service", "server", "cmd/tailor", "bench"},
	"auction":        {"service", "server", "cmd/tailor", "bench"},
	"learn":          {"service", "server", "auction", "ledger", "campaign", "cmd/tailor", "bench"},
	"server/openrtb": {"learn", "audience", "trigger", "cmd/tailor", "bench"},
	"server":         {"cmd/tailor", "bench"},
	"service":        {"server", "cluster", "cmd/tailor", "bench"},
	"cluster":        {"server", "cmd/tailor", "bench"},
	"bank":           {"features", "index", "ranker", "ledger", "campaign", "service", "server", "cluster", "cmd/tailor", "bench"},
	"bench":          {"server", "ranker", "features", "index"},
	"audience":       {"index", "ranker", "service", "server", "cmd/tailor", "bench", "trigger"},
	"trigger":        {"index", "ranker", "service", "server", "cmd/tailor", "bench"},
	"datasets":       {"features", "index", "ranker", "server", "audience", "trigger"},
	"ledger":         {"features", "index", "ranker", "service", "server", "cmd/tailor", "bench", "audience", "trigger"},
	"model":          {"features", "index", "ranker", "service", "server", "cmd/tailor", "bench", "audience", "trigger", "ledger"},
	"eval":           {"server", "cmd/tailor", "bench"},
	"internal/kv":    {"features", "index", "ranker", "server"},
	"internal/synth": {"features", "index", "ranker", "server"},
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", "../../...").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel, ok := strings.CutPrefix(p.ImportPath, module)
		if !ok {
			continue
		}
		for _, bad := range forbidden[rel] {
			for _, d := range p.Deps {
				if d == module+bad || strings.HasPrefix(d, module+bad+"/") && !strings.HasPrefix(rel, bad+"/") {
					t.Errorf("%s depends on %s", rel, bad)
				}
			}
		}
	}
}
