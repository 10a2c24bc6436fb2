#!/usr/bin/env bash
# CI: the wheel a new user gets works on every Python the package claims.  Build one wheel from a fresh clone of
# this repository (what is committed, nothing else), then for each of Python 3.11, 3.12 and 3.13: a new virtualenv,
# the wheel installed into it with its dependencies from the package index, and the demo run for real from an empty
# folder, with the clone gone (.ci/demo_check.py: `vmsgw demo`, the README's worked query, SIGINT).
# An interpreter that cannot be found fails the run under CI=true and is skipped with a message otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
versions=(3.11 3.12 3.13)

work="$(mktemp -d "${TMPDIR:-/tmp}/vmsgw-wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
began=$SECONDS

git clone --quiet --no-hardlinks "$root" "$work/src"
git -C "$work/src" checkout --quiet --detach "$(git -C "$root" rev-parse HEAD)"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    echo "wheel: note: uncommitted changes in $root are not in the wheel (it is built from HEAD)"
fi
# -v shows the build backend's own warnings, which pip hides otherwise.
if ! "${PYTHON:-python}" -m pip wheel -v --no-deps --wheel-dir "$work/dist" "$work/src" >"$work/build.log" 2>&1; then
    cat "$work/build.log"
    echo "wheel: FAILED: the wheel does not build" >&2
    exit 1
fi
if grep -E "absent from the .packages. configuration|would be ignored|data_files is deprecated" "$work/build.log"; then
    echo "wheel: FAILED: setuptools warns about the packaging (above; the full log was $work/build.log)" >&2
    exit 1
fi
wheel="$(ls "$work"/dist/vms_gateway-*.whl)"
cp README.rst .ci/demo_check.py "$work/"
rm -rf "$work/src"
echo "wheel: built $(basename "$wheel") in $((SECONDS - began)) s"

find_python() {  # python3.X on PATH (really that version), else a pyenv install of it
    local version=$1 candidate
    for candidate in "$(command -v "python$version" || true)" \
                     $(ls -d "$(pyenv root 2>/dev/null || echo /nonexistent)/versions/$version"*/bin/python 2>/dev/null | sort -V -r); do
        if [ -n "$candidate" ] && "$candidate" -c "import sys; sys.exit(f'{sys.version_info[0]}.{sys.version_info[1]}' != '$version')" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

summary=()
for version in "${versions[@]}"; do
    if ! python="$(find_python "$version")"; then
        if [ "${CI:-}" = "true" ]; then
            echo "wheel: FAILED: no Python $version found (python$version on PATH or a pyenv install)" >&2
            exit 1
        fi
        echo "wheel: skipping Python $version: not found (python$version on PATH or a pyenv install)"
        summary+=("$version: skipped (not installed)")
        continue
    fi
    start=$SECONDS
    "$python" -m venv "$work/venv-$version"
    if ! "$work/venv-$version/bin/python" -m pip install --quiet "$wheel" >"$work/install-$version.log" 2>&1; then
        cat "$work/install-$version.log"
        echo "wheel: FAILED: the wheel does not install on Python $version" >&2
        exit 1
    fi
    installed=$((SECONDS - start))
    mkdir "$work/run-$version"
    # An empty folder, the demo's catalog in a data directory of its own, nothing of the repository on the path.
    result="$(cd "$work/run-$version" && env -u PYTHONPATH XDG_DATA_HOME="$work/run-$version/data" \
        "$work/venv-$version/bin/python" "$work/demo_check.py" "$work/README.rst")" || {
        echo "$result"
        echo "wheel: FAILED on Python $version ($("$python" --version 2>&1))" >&2
        exit 1
    }
    echo "wheel: Python $version ($("$python" --version 2>&1 | cut -d' ' -f2)): venv + install ${installed} s, $result"
    summary+=("$version: install ${installed} s, total $((SECONDS - start)) s")
done
joined="$(printf '%s; ' "${summary[@]}")"
echo "wheel: done in $((SECONDS - began)) s (${joined%; })"
