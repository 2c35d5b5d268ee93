# One entry point for developers; the README's two commands stay the truth.
.PHONY: run test lint fmt ci

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
