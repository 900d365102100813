# Two entry points a new user needs: `make demo` (set up, run the main job) and `make test`.
# Everything lands in .venv; system OpenCL (Debian's PoCL and oclgrind) is installed when we are root.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
OUT ?= out

API_MODULES = smartmem_sim.api smartmem_sim.simulation smartmem_sim.running smartmem_sim.memsim smartmem_sim.layout smartmem_sim.compiler.costs

.PHONY: setup setup-zoo opencl demo test check-kernels bench lint figures docs clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,opencl]'
	$(PY) -m smartmem_sim.warm
	rm -f $(VENV)/.installed-*
	touch $@

setup: $(STAMP) opencl

# The torch export path of the zoo (optional extra; torch 2.13.0 is a CPU build).
ZOO_STAMP := $(VENV)/.zoo-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)
setup-zoo: setup $(ZOO_STAMP)
$(ZOO_STAMP): setup.cfg pyproject.toml
	$(PY) -m pip install -q -e '.[test,opencl,zoo,dist]'
	$(PY) -m pip install -q --no-deps timm==1.0.31
	rm -f $(VENV)/.zoo-*
	touch $@

# Debian's PoCL (a working CPU OpenCL device) and oclgrind (a checking OpenCL simulator).
# Skipped when not root or not on Debian/Ubuntu; tests that need OpenCL then skip with a reason.
opencl:
	@if [ ! -e /etc/OpenCL/vendors/pocl.icd ] || ! command -v oclgrind >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pocl-opencl-icd oclgrind >/dev/null) \
	      || echo "warning: could not install pocl-opencl-icd/oclgrind; OpenCL tests will skip"; \
	  else echo "note: install an OpenCL ICD (e.g. pocl-opencl-icd) and oclgrind for the OpenCL tests"; fi; \
	fi

# The main job: compile the bundled tiny Swin under the four policies, simulate every kernel on adreno740,
# print the comparison and save the plot + JSON under $(OUT)/compare.
demo: setup
	$(PY) -m smartmem_sim.cli compare swin --tiny --device adreno740 --out $(OUT)/compare

test: setup-zoo
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests

# Every generated kernel of the tiny twins (all policies) under oclgrind; CSV: .cache/oclgrind/report.csv.
# Resumable: results are cached by kernel source in .cache/oclgrind/.
check-kernels: setup
	$(PY) -m smartmem_sim.oclgrind_sweep --workers 2

# The paper's tables and figures (experiments/results/); reruns only what the sweep cache lacks.
figures: setup-zoo
	$(PY) experiments/make_figures.py

# The API reference from the docstrings (pdoc), into docs/api/ (not committed; tests/test_api_docs.py builds it in CI).
docs: setup
	$(PY) -m pdoc $(API_MODULES) -o docs/api

bench: setup
	$(PY) benchmarks/bench_memsim.py

lint: setup
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
