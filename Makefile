# Each target creates or refreshes the virtual environment it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test notebook benchmark homework clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m libs.demo --out outputs

test: $(VENV)/.installed
	$(PY) -m pytest -q -rs --durations=15 -n 2 --dist loadfile tests

notebook: $(VENV)/.installed
	$(VENV)/bin/jupyter notebook notebooks/

benchmark: $(VENV)/.installed
	$(PY) benchmarks/run.py

homework: $(VENV)/.installed
	$(PY) tools/homework.py

clean:
	rm -rf $(VENV) outputs
