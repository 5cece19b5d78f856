#!/usr/bin/env bash
# Print the path of a working Python 3.12: $PYTHON, python3.12 on PATH, pyenv,
# uv-managed or /usr/local installs. pyenv shims are tried by running them,
# because a shim exists even when its version is not selected.
set -u
try() { "$1" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$1"; exit 0; }; }
[ -n "${PYTHON:-}" ] && try "$PYTHON"
command -v python3.12 >/dev/null 2>&1 && try "$(command -v python3.12)"
for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 \
         "$HOME"/.local/share/uv/python/cpython-3.12*/bin/python3.12 \
         /usr/local/bin/python3.12 /usr/bin/python3.12 /opt/python*/bin/python3.12; do
  [ -x "$p" ] && try "$p"
done
echo "error: no Python 3.12 found; install one (pyenv install 3.12, apt install python3.12) or set PYTHON=/path/to/python3.12" >&2
exit 1
