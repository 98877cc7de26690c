# Two entry points for a newcomer: `make demo` and `make test`. Both build .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_ROOT ?= ../shared/data/cxr4
EXTERNAL ?= ../shared/data/cxr-ext/manifest.csv

.PHONY: demo test lint venv clean browser reports models

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lunggate predict data/samples --out outputs/predict
	$(BIN)/lunggate audit data/samples --out outputs/audit
	@echo
	@echo "Demo outputs:"
	@echo "  outputs/predict/  per X-ray: <name>_lungs.png, <name>_gradcam.png, <name>.json"
	@echo "  outputs/audit/    report.html (open in a browser; its table rows are in rows/), results.csv, results.json"

# The viewer's browser test needs Debian's chromium and chromedriver.
browser:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	} || echo "warning: chromium could not be installed; the browser test will be skipped"

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# The shipped classifiers and the lungs-hidden control, each from its two recipes: stage 1
# from ImageNet, then its MixStyle continuation (about 40 minutes each on 2 cores).
models: $(STAMP)
	for input in masked raw lungs_hidden; do \
	  $(BIN)/lunggate lab train-cls --recipe recipes/classifier_$$input.toml --data-root $(DATA_ROOT) || exit 1; \
	  $(BIN)/lunggate lab train-cls --recipe recipes/classifier_$${input}_mixstyle.toml --data-root $(DATA_ROOT) || exit 1; \
	done
	$(BIN)/lunggate lab calibrate --mask-variants -4 -2 0 2 4 --data-root $(DATA_ROOT)

# Every figure in reports/ from the shipped weights (roughly twenty minutes on 2 cores).
reports: $(STAMP)
	$(BIN)/lunggate lab eval-seg --split test --data-root $(DATA_ROOT)
	$(BIN)/lunggate lab eval-plausibility --data-root $(DATA_ROOT)
	for input in masked raw; do for split in val test; do \
	  $(BIN)/lunggate lab eval-cls --input $$input --split $$split --data-root $(DATA_ROOT) || exit 1; \
	done; done
	$(BIN)/lunggate compare --split test --data-root $(DATA_ROOT) --out reports/compare
	$(BIN)/lunggate compare --split val --data-root $(DATA_ROOT) --out reports/compare_val --bootstrap 200
	$(BIN)/lunggate compare --external $(EXTERNAL) --data-root $(DATA_ROOT) --out reports
	$(BIN)/lunggate lab eval-familiarity --external $(EXTERNAL) --data-root $(DATA_ROOT)
	$(BIN)/lunggate lab bench --soak --audit 400 --report-rows 1000 10000 100000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) outputs .pytest_cache
