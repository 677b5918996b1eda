# syntax=docker/dockerfile:1
#
# secrets-gateway container image: the core and the aws, vault and fake plugins, built from this
# repository, with every third-party dependency pinned and hash-checked by uv.lock (uv sync --frozen)
# and the build backend by build-constraints.txt. Reproducible once the base images below are pinned by
# digest (see the PIN note at the ARG lines); until then a local build uses the tags.
#
#   docker build -t secrets-gateway:dev .
#   docker run --rm secrets-gateway:dev version
#
# Runs as the non-root user 10001 by default. The Helm chart overrides the user to 0 because the
# host socket directory is usually root-owned (see docs/operations.md "Running as non-root").
# tests/chart/test_dockerfile.py keeps this file consistent with the repository and the chart.

# PIN: the base images, by index digest. The release workflow refuses a tag without @sha256:<64 hex>
# (scripts/check-base-pins.sh) and checks the digest holds linux/amd64 and linux/arm64. Not pinned yet:
# the digests could not be read where this file was last edited (no registry access). To pin, with
# access to the registries:
#   docker buildx imagetools inspect python:3.11-slim-trixie --format '{{json .Manifest}}' | jq -r .digest
# and append @sha256:... to each line below (the same for ghcr.io/astral-sh/uv:0.13.9). A build for
# other inputs: --build-arg PYTHON_IMAGE=python:3.11-slim-trixie@sha256:<index digest>.
ARG PYTHON_IMAGE=python:3.11-slim-trixie
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- build: the locked third-party dependencies, then wheels of the workspace, into /opt/venv -----
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
WORKDIR /src
COPY pyproject.toml uv.lock README.md build-constraints.txt ./
COPY gateway/ gateway/
COPY plugins/ plugins/
# Nothing is resolved here: `uv sync --frozen` installs exactly the versions and hashes of uv.lock
# (the release workflow first runs `uv lock --check`, so a stale lock never reaches a build); the
# build backend comes hash-pinned from build-constraints.txt; the workspace wheels are installed
# from the local directory only. Bytecode is compiled now: the root filesystem is read-only at run time.
RUN uv sync --frozen --no-dev --all-packages --no-install-workspace --python /usr/local/bin/python3 \
 && uv build --all-packages --wheel --out-dir /wheels --build-constraints build-constraints.txt --require-hashes \
 && uv pip install --python /opt/venv/bin/python --no-deps --no-index --compile-bytecode /wheels/*.whl
# Fails the build when a distribution is missing or a plugin does not load.
RUN /opt/venv/bin/python -c "import importlib.metadata as m; [m.version(d) for d in ('secrets-gateway', 'secrets-gateway-aws', 'secrets-gateway-fake', 'secrets-gateway-kube', 'secrets-gateway-vault')]" \
 && /opt/venv/bin/secrets-gateway plugins --plugins aws,vault,fake

# --- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin gateway
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
LABEL org.opencontainers.image.title="secrets-gateway" \
      org.opencontainers.image.description="Multi-backend provider for the Kubernetes Secrets Store CSI Driver" \
      org.opencontainers.image.source="https://github.com/secrets-gateway/secrets-gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
# /metrics, /healthz and /readyz (--http-address); the provider socket is a hostPath, not a port.
EXPOSE 8095
USER 10001:10001
ENTRYPOINT ["secrets-gateway"]
CMD ["serve"]
