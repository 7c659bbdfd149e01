.PHONY: bench bench-short

# bench runs the full benchmark (a few minutes); see docs/benchmarks.md.
bench:
	go run ./bench

# bench-short is the quick check (under a minute).
bench-short:
	go run ./bench -short
