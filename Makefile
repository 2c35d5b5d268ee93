# One entry point for developers; the README's two commands stay the truth.
.PHONY: run test lint fmt ci bench helm-check

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

helm-check: ## Helm lint, render and Kubernetes schema validation of helm/consentd
	python3 -m venv target/chart-venv
	target/chart-venv/bin/pip install --quiet -r helm/ci/requirements.txt
	target/chart-venv/bin/python helm/ci/check_chart.py

ci:         ## exactly what CI runs
	bash .ci/run

bench:      ## every workload and both baselines; writes docs/benchmarks/latest.{json,svg} (docs/benchmarks.md)
	cargo run --release -p consent-bench
