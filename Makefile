# crmio: the two commands README starts with are `make demo` and `make test`.
PY := .venv/bin

.PHONY: install stack-up stack-down demo worker test test-faults test-unit bench

install:            ## venv, Python packages, PostgreSQL server (apt) and the Kafka jars (Maven), once
	bash stack/install.sh

stack-up: install   ## start Kafka and PostgreSQL, apply migrations, create topics
	$(PY)/crmio stack up
	$(PY)/crmio migrate

stack-down:         ## stop Kafka and PostgreSQL
	$(PY)/crmio stack down

demo: stack-up      ## the whole system on local defaults with a demo import
	$(PY)/crmio demo

worker: stack-up    ## one stream-processing worker in the foreground
	$(PY)/crmio worker

test: stack-up      ## every test: unit, integration and browser, then the fault suite, on the real Kafka and PostgreSQL
	$(PY)/pytest -m "not faults"
	$(PY)/python -m bench.fault_table --run

test-faults: stack-up  ## only the fault suite (kills the broker and PostgreSQL it runs on; about 9 minutes)
	$(PY)/python -m bench.fault_table --run

test-unit: install  ## only the fast tier (no broker, no database)
	$(PY)/pytest tests/unit

bench: stack-up     ## import benchmark: rows/s and worker peak RSS at 100k and 1M rows
	$(PY)/python -m bench.bench_import
