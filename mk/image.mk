##@ Container image

# Container engine: docker when its daemon answers, else podman. Evaluated once, on first use.
CONTAINER_TOOL ?= $(eval CONTAINER_TOOL := $(shell \
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then echo docker; \
  elif command -v podman >/dev/null 2>&1; then echo podman; \
  else echo docker; fi))$(CONTAINER_TOOL)
DASKBURST_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' src/daskburst/_version.py)
IMAGE_REGISTRY ?= localhost
# Never "latest": clusters, workers and clients must agree on one exact version.
IMG ?= $(IMAGE_REGISTRY)/daskburst:$(DASKBURST_VERSION)
# Official slim Python for real users; the local debootstrap base only when that cannot be pulled.
PYTHON_BASE_IMAGE ?= docker.io/library/python:3.11-slim-bookworm
LOCAL_BASE_IMAGE ?= localhost/daskburst-base:bookworm
# auto: use PYTHON_BASE_IMAGE if present or pullable, else build and use LOCAL_BASE_IMAGE.
# yes: always LOCAL_BASE_IMAGE. no: always PYTHON_BASE_IMAGE. Setting BASE_IMAGE beats all.
USE_LOCAL_BASE ?= auto
BASE_IMAGE ?=
DEBIAN_MIRROR ?= http://deb.debian.org/debian
# CA bundle mounted (read-only, build time only) so pip works behind a TLS-inspecting proxy.
BUILD_CA_DIR ?= /etc/ssl/certs
IMAGE_SOURCE ?= $(shell sed -n 's/^Source = "\(.*\)"/\1/p' pyproject.toml)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_BUILD_ARGS ?=
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q

.PHONY: image
image: ## Build the image IMG (localhost/daskburst:<version>) with docker or podman
	@base='$(BASE_IMAGE)'; \
	if [ -z "$$base" ]; then \
	  case '$(USE_LOCAL_BASE)' in \
	    yes) base='$(LOCAL_BASE_IMAGE)';; \
	    no) base='$(PYTHON_BASE_IMAGE)';; \
	    *) if $(CONTAINER_TOOL) image inspect '$(PYTHON_BASE_IMAGE)' >/dev/null 2>&1 \
	         || timeout 300 $(CONTAINER_TOOL) pull -q '$(PYTHON_BASE_IMAGE)' >/dev/null 2>&1; then \
	         base='$(PYTHON_BASE_IMAGE)'; \
	       else \
	         echo "image: cannot pull $(PYTHON_BASE_IMAGE); using the local base $(LOCAL_BASE_IMAGE)"; \
	         base='$(LOCAL_BASE_IMAGE)'; \
	       fi;; \
	  esac; \
	fi; \
	if [ "$$base" = '$(LOCAL_BASE_IMAGE)' ]; then $(MAKE) base-image; fi; \
	extra=(); \
	if [ '$(CONTAINER_TOOL)' = podman ]; then \
	  extra+=(--ignorefile images/Dockerfile.dockerignore); \
	  if [ -f '$(BUILD_CA_DIR)/ca-certificates.crt' ]; then extra+=(-v '$(BUILD_CA_DIR):/etc/ssl/certs:ro'); fi; \
	fi; \
	echo "image: building $(IMG) from $$base with $(CONTAINER_TOOL)"; \
	old=$$($(CONTAINER_TOOL) image inspect --format '{{.Id}}' '$(IMG)' 2>/dev/null || true); \
	$(CONTAINER_TOOL) build "$${extra[@]}" -f images/Dockerfile -t '$(IMG)' \
	  --build-arg BASE_IMAGE="$$base" \
	  --build-arg VERSION='$(DASKBURST_VERSION)' \
	  --build-arg REVISION='$(IMAGE_REVISION)' \
	  --build-arg SOURCE='$(IMAGE_SOURCE)' \
	  $(IMAGE_BUILD_ARGS) .; \
	new=$$($(CONTAINER_TOOL) image inspect --format '{{.Id}}' '$(IMG)'); \
	if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then \
	  $(CONTAINER_TOOL) rmi "$$old" >/dev/null 2>&1 \
	    && echo "image: removed the image $(IMG) replaced ($${old:0:12})" || true; \
	fi
	@$(CONTAINER_TOOL) image inspect '$(IMG)' --format 'image: $(IMG) {{.Size}} bytes'

.PHONY: base-image
base-image: ## Build the local Debian bookworm base image with debootstrap (no registry needed)
	@if $(CONTAINER_TOOL) image inspect '$(LOCAL_BASE_IMAGE)' >/dev/null 2>&1; then \
	  echo "base-image: $(LOCAL_BASE_IMAGE) exists (remove it to rebuild)"; exit 0; fi; \
	command -v debootstrap >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install debootstrap; }; \
	root=$$(mktemp -d /var/tmp/daskburst-base.XXXXXX); trap 'rm -rf "$$root"' EXIT; \
	echo "base-image: debootstrap bookworm into $$root (about a minute)"; \
	debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
	  bookworm "$$root/rootfs" '$(DEBIAN_MIRROR)' >"$$root/debootstrap.log" 2>&1 \
	  || { tail -20 "$$root/debootstrap.log"; exit 1; }; \
	rm -rf "$$root"/rootfs/var/cache/apt/archives/*.deb "$$root"/rootfs/var/lib/apt/lists/* \
	  "$$root"/rootfs/usr/share/man "$$root"/rootfs/usr/share/info "$$root"/rootfs/usr/share/locale \
	  "$$root"/rootfs/var/log/* "$$root"/rootfs/etc/hostname "$$root"/rootfs/etc/resolv.conf; \
	find "$$root/rootfs/usr/share/doc" -type f ! -name copyright -delete; \
	tar -C "$$root/rootfs" --numeric-owner -c . | $(CONTAINER_TOOL) import \
	  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
	  - '$(LOCAL_BASE_IMAGE)' >/dev/null; \
	echo "base-image: built $(LOCAL_BASE_IMAGE)"

.PHONY: podman-setup
podman-setup: ## Install podman (runc, netavark, aardvark-dns, iptables) and debootstrap and configure podman (root)
	@pkgs="podman runc debootstrap netavark aardvark-dns iptables"; \
	if ! dpkg -s $$pkgs >/dev/null 2>&1; then $(APT_GET) update -qq && $(APT_GET) install $$pkgs; fi; \
	conf=$$(mktemp); trap 'rm -f "$$conf"' EXIT; \
	printf '%s\n' '# Written by `make podman-setup` (daskburst): raising rlimits is not permitted' \
	  '# on these hosts and crun rejects their hybrid cgroups.' \
	  '[containers]' 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]' \
	  '[engine]' 'runtime = "runc"' > "$$conf"; \
	if ! grep -qs 'runtime = "runc"' /etc/containers/containers.conf; then \
	  mkdir -p /etc/containers; \
	  if [ -f /etc/containers/containers.conf ]; then \
	    cp /etc/containers/containers.conf /etc/containers/containers.conf.orig; fi; \
	  install -m 0644 "$$conf" /etc/containers/containers.conf; \
	  echo "podman-setup: wrote /etc/containers/containers.conf"; fi; \
	podman info --format 'podman-setup: podman {{.Version.Version}}, runtime {{.Host.OCIRuntime.Name}}'

.PHONY: image-info
image-info: ## Show size, OCI labels and the versions inside the image IMG
	$(CONTAINER_TOOL) image inspect '$(IMG)' \
	  --format '{{.Size}} bytes{{range $$k, $$v := .Labels}}{{"\n"}}{{$$k}}={{$$v}}{{end}}{{"\n"}}'
	$(CONTAINER_TOOL) run --rm --read-only --tmpfs /tmp --cap-drop=ALL '$(IMG)' \
	  python -c 'import dask, distributed, daskburst; print("daskburst", daskburst.__version__, "dask", dask.__version__, "distributed", distributed.__version__)'

# `make user-image`: IMG plus your code and packages (images/user/Dockerfile), for code or
# packages that cannot travel with `daskburst run`. USER_IMAGE has no default: name your own.
# podman builds with --layers=false: one commit, so a failed build leaves no cached intermediate
# images behind (a pip cache mount keeps rebuilds quick); docker's BuildKit leaves none anyway.
USER_IMAGE ?=
# Copied to /opt/daskburst/code (on PYTHONPATH); empty for none.
USER_CODE ?= images/user/code
# pip requirements installed with the image's own packages held at their versions; empty for none.
USER_REQUIREMENTS ?= images/user/requirements.txt

.PHONY: user-image
user-image: ## Build USER_IMAGE=NAME:TAG: IMG plus USER_CODE=DIR (PYTHONPATH) and USER_REQUIREMENTS=FILE
	@image='$(USER_IMAGE)'; code='$(USER_CODE)'; reqs='$(USER_REQUIREMENTS)'; \
	fail() { echo "user-image: $$*" >&2; exit 2; }; \
	case "$${image##*/}" in \
	  '') fail "set USER_IMAGE=NAME:TAG (e.g. registry.example.org/me/analysis:1)";; \
	  *:latest) fail "USER_IMAGE=$$image: expected an exact tag, not latest (workers and clients must agree)";; \
	  *:*) ;; \
	  *) fail "USER_IMAGE=$$image: expected NAME:TAG (e.g. $$image:1)";; \
	esac; \
	if [ -n "$$code" ] && [ ! -d "$$code" ]; then \
	  fail "USER_CODE=$$code: no such directory; expected the code to copy to /opt/daskburst/code (USER_CODE= for none)"; fi; \
	if [ -n "$$reqs" ] && [ ! -f "$$reqs" ]; then \
	  fail "USER_REQUIREMENTS=$$reqs: no such file; expected a pip requirements file (USER_REQUIREMENTS= for none)"; fi; \
	$(CONTAINER_TOOL) image inspect '$(IMG)' >/dev/null 2>&1 || $(MAKE) image; \
	ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	cp images/user/Dockerfile "$$ctx/"; \
	mkdir "$$ctx/code"; \
	if [ -n "$$code" ]; then \
	  tar -C "$$code" --exclude=.git --exclude=__pycache__ --exclude='*.pyc' --exclude=.venv \
	    --exclude=venv --exclude=.mypy_cache --exclude=.pytest_cache -cf - . | tar -C "$$ctx/code" -xf -; fi; \
	chmod -R a+rX "$$ctx/code"; \
	if [ -n "$$reqs" ]; then cp "$$reqs" "$$ctx/requirements.txt"; else : > "$$ctx/requirements.txt"; fi; \
	extra=(); \
	if [ '$(CONTAINER_TOOL)' = podman ]; then \
	  extra+=(--layers=false); \
	  if [ -f '$(BUILD_CA_DIR)/ca-certificates.crt' ]; then extra+=(-v '$(BUILD_CA_DIR):/etc/ssl/certs:ro'); fi; \
	fi; \
	echo "user-image: building $$image from $(IMG) with $(CONTAINER_TOOL)" \
	  "(code: $${code:-none}, requirements: $${reqs:-none})"; \
	old=$$($(CONTAINER_TOOL) image inspect --format '{{.Id}}' "$$image" 2>/dev/null || true); \
	$(CONTAINER_TOOL) build "$${extra[@]}" -t "$$image" --build-arg BASE='$(IMG)' "$$ctx"; \
	new=$$($(CONTAINER_TOOL) image inspect --format '{{.Id}}' "$$image"); \
	if [ -n "$$old" ] && [ "$$old" != "$$new" ]; then \
	  $(CONTAINER_TOOL) rmi "$$old" >/dev/null 2>&1 \
	    && echo "user-image: removed the image $$image replaced ($${old:0:12})" || true; \
	fi; \
	$(CONTAINER_TOOL) image inspect "$$image" --format "user-image: $$image {{.Size}} bytes"
