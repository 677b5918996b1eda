#!/usr/bin/env bash
# The fast test tier (pytest -m "not slow") under every other supported Python (default 3.12 and 3.13;
# PYTHON_VERSIONS="3.12" to choose, "" for none). The full suite runs under 3.11, the README's test command.
#
# Each version gets its own environment outside the clone, ${XDG_CACHE_HOME:-~/.cache}/secrets-gateway/venv-py<version>,
# synced from uv.lock (--frozen). Interpreters are taken from the machine, never downloaded
# (UV_PYTHON_DOWNLOADS=never): python<version> on PATH when it runs, else pyenv's newest <version>.*, else
# one uv already manages. A version without an interpreter is reported and skipped; REQUIRE_ALL_PYTHONS=1
# makes that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a versions <<< "${PYTHON_VERSIONS-3.12 3.13}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/secrets-gateway"
export UV_PYTHON_DOWNLOADS=never

runs() { "$1" -c 'import sys; sys.exit(0)' >/dev/null 2>&1; }

find_python() {
  local version="$1" candidate root
  candidate="$(command -v "python$version" || true)"
  if [[ -n "$candidate" ]] && runs "$candidate"; then echo "$candidate"; return 0; fi  # pyenv's shims do not run
  root="${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}"
  while read -r candidate; do
    if [[ -n "$candidate" ]] && runs "$candidate"; then echo "$candidate"; return 0; fi
  done < <(ls -d "$root"/versions/"$version".*/bin/"python$version" 2>/dev/null | sort -V -r)
  candidate="$(python3 -m uv python find --no-python-downloads "$version" 2>/dev/null || true)"
  if [[ -n "$candidate" ]] && runs "$candidate"; then echo "$candidate"; return 0; fi
  return 1
}

status=0
for version in "${versions[@]}"; do
  if ! python="$(find_python "$version")"; then
    echo "python$version: no interpreter on this machine; its fast tier is skipped"
    [[ "${REQUIRE_ALL_PYTHONS:-0}" == 1 ]] && status=1
    continue
  fi
  echo "+ [python $("$python" -c 'import platform; print(platform.python_version())') at $python] pytest -m \"not slow\""
  UV_PROJECT_ENVIRONMENT="$cache/venv-py$version" python3 -m uv run --frozen --all-packages --python "$python" \
    pytest -m "not slow" -q || status=1
done
exit "$status"
