# SLURM: a real single-node SLURM on this machine for development and tests.

SLURM_RUN_DIR ?= $(CURDIR)/.run/slurm
SLURM_PARTITION ?= debug
SLURM_PYTEST_ARGS ?=

##@ SLURM

.PHONY: slurm-up
slurm-up: ## Install (apt) and start munge, slurmctld and slurmd here; wait until the node is idle
	SLURM_RUN_DIR=$(SLURM_RUN_DIR) SLURM_PARTITION=$(SLURM_PARTITION) scripts/slurm/slurm-up

.PHONY: slurm-down
slurm-down: ## Cancel all SLURM jobs and stop the daemons started by slurm-up
	SLURM_RUN_DIR=$(SLURM_RUN_DIR) scripts/slurm/slurm-down

.PHONY: slurm-scripts
slurm-scripts: venv ## Regenerate jobs/slurm/*.sbatch from src/daskburst/catalogue.py and slurm/_scripts.py
	$(BIN)/python scripts/slurm/render_scripts.py

.PHONY: slurm-check
slurm-check: venv ## Offline checks: jobs/slurm/*.sbatch match their generator and run what they should
	$(BIN)/python scripts/slurm/render_scripts.py --check
	$(BIN)/python -m pytest tests/unit/test_slurm_scripts.py $(SLURM_PYTEST_ARGS)

.PHONY: slurm-status
slurm-status: ## Show the SLURM node and queue
	sinfo && squeue

.PHONY: slurm-test
slurm-test: venv ## Run the SLURM integration tests (needs `make slurm-up`)
	$(BIN)/python -m pytest -m slurm tests/integration/test_slurm.py $(SLURM_PYTEST_ARGS)
