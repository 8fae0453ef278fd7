# Checks a contributor runs before pushing; CI runs the same through .ci/run.
.PHONY: build test check bench serve

build:
	go build -o tailor ./cmd/tailor

test:
	go test -race ./...

check:
	bash .ci/run

# The README's benchmark figures: 100,000 items and 100,000 users.
bench:
	go test -run '^$$' -bench . -benchtime 3s ./server/

serve: build
	./tailor serve --demo
