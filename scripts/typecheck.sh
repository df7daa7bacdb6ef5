#!/bin/sh
# Type-check the gridstudy namespace with mypy.
#
# The source folders grid/, models/ and studies/ are mapped under ``gridstudy`` by setuptools'
# ``package-dir`` (see pyproject.toml), and an editable install reaches them through an import hook
# that mypy cannot follow. So we build a tree that has the installed layout, made of symlinks to
# the checkout:
#
#     <tree>/gridstudy/__init__.py -> src/gridstudy/__init__.py
#     <tree>/gridstudy/py.typed    -> src/gridstudy/py.typed
#     <tree>/gridstudy/grid        -> grid/
#     <tree>/gridstudy/models      -> models/
#     <tree>/gridstudy/studies     -> studies/
#
# and point MYPYPATH at it. The tree lives inside .mypy_cache/ (which mypy keeps out of git) at a
# fixed place, so mypy's incremental cache stays valid from one run to the next. Error messages name
# the tree's paths (<tree>/gridstudy/grid/x.py); the sed at the end rewrites them to the checkout's
# (grid/x.py) so editors and people can jump to them.
# The options (strict for grid and models, relaxed for studies) live in pyproject.toml [tool.mypy].
#
# Usage: sh scripts/typecheck.sh [PYTHON]        (default: .venv/bin/python, else python3)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-}
if [ -z "$py" ]; then
    if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi

tree="$root/.mypy_cache/gridstudy-tree"
pkg="$tree/gridstudy"
mkdir -p "$pkg"
# ln -sfn: idempotent, and replaces a link left by a checkout that has since moved.
ln -sfn "$root/src/gridstudy/__init__.py" "$pkg/__init__.py"
ln -sfn "$root/src/gridstudy/py.typed" "$pkg/py.typed"
for sub in grid models studies; do
    ln -sfn "$root/$sub" "$pkg/$sub"
done

out=$(mktemp "${TMPDIR:-/tmp}/gridstudy-typecheck.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
cd "$root"
status=0
MYPYPATH="$tree" "$py" -m mypy --config-file "$root/pyproject.toml" \
    -m gridstudy -p gridstudy.grid -p gridstudy.models -p gridstudy.studies >"$out" 2>&1 || status=$?
# mypy reports paths as it found them: through the symlinked tree. Show them as checkout paths.
sed -e "s#$pkg/__init__.py#src/gridstudy/__init__.py#g" -e "s#$pkg/##g" \
    -e "s#^.mypy_cache/gridstudy-tree/gridstudy/__init__.py#src/gridstudy/__init__.py#" -e "s#^.mypy_cache/gridstudy-tree/gridstudy/##" "$out"
exit "$status"
