.PHONY: bench bench-short bench-3

# bench runs the full benchmark (a few minutes); see docs/benchmarks.md.
bench:
	go run ./bench

# bench-3 runs the full benchmark three times in a row and prints every
# target's min/median/max (the figures docs/benchmarks.md reports).
bench-3:
	go run ./bench -runs 3

# bench-short is the quick check (under a minute).
bench-short:
	go run ./bench -short
