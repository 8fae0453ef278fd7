# Checks a contributor runs before pushing; CI runs the same through .ci/run.
.PHONY: build test lint check bench serve fuzz

build:
	go build -o tailor ./cmd/tailor

test:
	go test -race ./...

lint:
	gofmt -l $$(git ls-files '*.go')
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

check:
	bash .ci/run

# The README's benchmark figures: 100,000 items and 100,000 users.
bench:
	go test -run '^$$' -bench . -benchtime 3s ./server/

serve: build
	./tailor serve --demo

# Every fuzz target in turn, FUZZTIME each (default an hour; CI runs a few
# thousand inputs each). A failing input lands in the package's
# testdata/fuzz/ directory: fix the code and commit the input as a seed.
FUZZTIME ?= 1h
fuzz:
	@set -e; for target in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' --include='*_test.go' . | sed 's/^func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $${target}\(" --include='*_test.go' . | head -1 | xargs dirname); \
		echo "== $$target ($$pkg, $(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$${target}\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done
