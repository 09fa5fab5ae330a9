# Two entry points, both idempotent on a fresh Debian machine:
#   make up    set up, then run the whole local stack (zos up)
#   make test  set up, then run the whole test suite
VENV   := .venv
PY     := $(VENV)/bin/python
APT_PACKAGES := $(shell grep -v '^\#' .ci/apt-packages.txt)

.PHONY: up test setup system venv bench lint clean

up: setup
	$(VENV)/bin/zos up

test: setup
	.ci/pytest-strict $(PY) -m pytest $(PYTEST_ARGS)

setup: system venv

# System packages: installed with apt when missing and running as root; otherwise listed.
system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "apt: installing $$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "missing system packages (run as root to install): $$missing"; fi; \
	fi

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

bench: setup
	$(PY) -m bench

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) build *.egg-info
