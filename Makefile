# One entry point for developers; the README's two commands stay the truth.
.PHONY: run test lint fmt ci bench

run:        ## run the service on embedded SQLite (./consentd.db)
	cargo run -p consentd -- serve

test:       ## the whole test suite
	cargo test --workspace

lint:       ## formatting and clippy, as CI runs them
	cargo fmt --all -- --check
	npx --yes @bufbuild/buf@1.75.0 lint proto
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

ci:         ## exactly what CI runs
	bash .ci/run

bench:      ## durable write throughput on SQLite and PostgreSQL (docs/benchmarks.md)
	cargo run --release -p consentd --example bench -- --backend sqlite --concurrency 1,16,64 --seconds 10
	cargo run --release -p consentd --example bench -- --backend postgres --concurrency 1,16,64 --seconds 10
