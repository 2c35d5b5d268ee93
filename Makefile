# One entry point for developers; the README's two commands stay the truth.
.PHONY: run test lint fmt ci bench bench-scale bench-overload bench-vendor bench-list bench-expiry bench-evidence bench-transfer soak helm-check fuzz fuzz-smoke

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

bench-scale: ## the same workloads on a fresh database and on 10M records, both backends (about 40 minutes, 12 GB of disk)
	cargo run --release -p consent-bench -- --scale 10000000 --out docs/benchmarks/scale

bench-overload: ## each workload's maximum, then twice it in an open loop, both backends
	cargo run --release -p consent-bench -- --overload --out docs/benchmarks/overload

bench-vendor: ## the vendor routes over HTTP at c32 (SQLite): Intempt, Adobe naming 100, Secure Privacy's check beside bare axum
	cargo run --release -p consent-bench -- --vendor --backends sqlite --out docs/benchmarks/vendor

bench-evidence: ## record-unique with the verifiable log on and off, and its space per million records, both backends
	cargo run --release -p consent-bench -- --evidence-log --backends sqlite,postgres

bench-transfer: ## consentctl import and export of 1,000,000 records with its peak RSS, beside a bare COPY/insert of the same rows, both backends
	cargo run --release -p consent-bench -- --transfer 1000000 --backends sqlite,postgres

bench-list: ## Secure Privacy's list read whole: the server's peak RSS while it streams 10,000 and 100,000 records (SQLite)
	cargo run --release -p consent-bench -- --list-memory 10000,100000 --backends sqlite

bench-expiry: ## 100,000 grants expiring within a minute: how long after expires_at each EXPIRED event reaches a subscriber, both backends
	cargo run --release -p consent-bench -- --expiry 100000 --backends sqlite
	cargo run --release -p consent-bench -- --expiry 100000 --backends postgres

# Fuzzing (fuzz/README.md): cargo-fuzz on the stable toolchain through
# RUSTC_BOOTSTRAP; install it with `cargo install cargo-fuzz --locked`. Each
# target runs FUZZ_SECONDS, one after another; the new inputs it finds go to
# fuzz/corpus/<target> (with fuzz/seeds/<target> read too where it exists), a
# crash to fuzz/artifacts/<target>. The server targets keep state across
# inputs on purpose, so leak detection is off for them.
FUZZ_TARGETS := adobe_decode intempt_decode jentis_decode secureprivacy_decode native_decode tcf_decode gpp_decode evidence_verify grpc_requests gateway_requests
FUZZ_SECONDS ?= 600

fuzz:       ## every fuzz target for FUZZ_SECONDS seconds each (default 600)
	@cd fuzz && failed=""; for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$target; \
		seeds=""; if [ -d seeds/$$target ]; then seeds=seeds/$$target; fi; \
		flags="-max_total_time=$(FUZZ_SECONDS) -timeout=120 -print_final_stats=1"; \
		case $$target in grpc_requests|gateway_requests) flags="$$flags -detect_leaks=0";; esac; \
		echo "== fuzz $$target for $(FUZZ_SECONDS) s"; \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$target corpus/$$target $$seeds -- $$flags || failed="$$failed $$target"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed"; exit 1; fi

fuzz-smoke: ## every fuzz target for 30 s
	$(MAKE) fuzz FUZZ_SECONDS=30

soak:       ## the fault soak: 20 × kill -9 on SQLite and on PostgreSQL, a PostgreSQL restart, a frozen notice connection (docs/reliability.md)
	cargo run --release -p consent-bench -- --soak
