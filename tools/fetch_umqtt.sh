#!/usr/bin/env bash
# Fetch umqtt.simple 1.3.4 (PyPI sdist) into .deps/umqtt134/umqtt/. Idempotent.
# pip cannot install this bare sdist: "pip download" fails after unpacking it,
# so we keep the unpacked build dir (--no-clean) and copy simple.py out of it.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.deps/umqtt134/umqtt
if [ -s "$DEST/simple.py" ]; then
    echo "umqtt.simple 1.3.4 already in $DEST"
    exit 0
fi
PY=${PYTHON:-.venv/bin/python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TMPDIR="$WORK" "$PY" -m pip download --no-deps --no-clean --no-build-isolation -d "$WORK/dl" \
    micropython-umqtt.simple==1.3.4 >"$WORK/pip.log" 2>&1 || true
SRC=$(find "$WORK" -path '*micropython-umqtt*simple*/umqtt/simple.py' | head -n 1)
if [ -z "$SRC" ]; then
    echo "fetch_umqtt: could not unpack micropython-umqtt.simple==1.3.4; pip said:" >&2
    cat "$WORK/pip.log" >&2
    exit 1
fi
mkdir -p "$DEST"
cp "$SRC" "$DEST/simple.py"
: > "$DEST/__init__.py"
echo "umqtt.simple 1.3.4 -> $DEST/simple.py"
