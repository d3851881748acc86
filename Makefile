# crmio: the two commands README starts with are `make demo` and `make test`.
PY := .venv/bin
# install.sh's rustup puts cargo in ~/.cargo/bin, which a fresh shell may not have on its PATH yet.
CARGO := $(shell command -v cargo || echo $(HOME)/.cargo/bin/cargo)

.PHONY: install python stack-up s3-up stack-down demo worker lint test test-faults test-unit bench

LINTED := services streams schemas stack bench tests
# mypy --strict holds on these: schemas/ and every package of services/ (streams/ follows).
TYPED := schemas services/core services/cleansing services/aggregate services/cli services/ingest services/exports \
         services/jobs services/apply services/api services/result_files services/records

install:            ## venv, Python packages, PostgreSQL server (apt) and the Kafka jars (Maven), once
	bash stack/install.sh

python:             ## only the venv and the Python packages (the fast tier needs nothing else)
	bash stack/install.sh --python-only

lint: python        ## ruff (lint and format) over the tree, mypy --strict on the typed packages; rustfmt, clippy on native/
	$(PY)/ruff check $(LINTED)
	$(PY)/ruff format --check $(LINTED)
	$(PY)/mypy --strict $(TYPED)
	cd native && $(CARGO) fmt --check && $(CARGO) clippy --release --quiet -- -D warnings

stack-up: install   ## start Kafka and PostgreSQL, apply migrations, create topics
	$(PY)/crmio stack up
	$(PY)/crmio migrate

s3-up: stack-up     ## also S3Proxy, a local S3 API server (http://127.0.0.1:9000): the object storage tests run on it
	$(PY)/crmio stack up --s3

stack-down:         ## stop Kafka, PostgreSQL (and S3Proxy)
	$(PY)/crmio stack down

demo: stack-up      ## the whole system on local defaults with a demo import
	$(PY)/crmio demo

worker: stack-up    ## one stream-processing worker in the foreground
	$(PY)/crmio worker

test: lint s3-up  ## every test: unit, integration and browser, then the fault suite, on the real Kafka, PostgreSQL and S3Proxy
	$(PY)/pytest -m "not faults"
	$(PY)/python -m bench.fault_table --run

test-faults: stack-up  ## only the fault suite (kills the broker and PostgreSQL it runs on; about 9 minutes)
	$(PY)/python -m bench.fault_table --run

test-unit: python   ## only the fast tier: no PostgreSQL, Kafka, Java or Chromium needed
	$(PY)/pytest tests/unit

bench: stack-up     ## issue 15's figures (over an hour): 1M-row csv, xlsx, json as ratios to a plain asyncpg upsert (bench/reference.py), the grown database, a 10M-row csv's rows/s and RSS
	$(PY)/python -m bench.bench_import --rows 1000000
	$(PY)/python -m bench.bench_growth
	$(PY)/python -m bench.bench_import --rows 10000000 --formats csv --runs 1
