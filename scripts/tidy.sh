#!/usr/bin/env bash
# Runs clang-tidy with the checks in .clang-tidy over every source file in
# src/, in parallel, with warnings as errors. Needs a configured build (the
# build exports build/compile_commands.json). Usage: scripts/tidy.sh [build dir]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BUILD=${1:-build}
JOBS=$(nproc 2>/dev/null || echo 4)
t0=$SECONDS

if [[ ! -f "$BUILD/compile_commands.json" ]]; then
    echo "tidy: no $BUILD/compile_commands.json (configure the build first)"
    exit 1
fi
TIDY=$(command -v clang-tidy-14 || command -v clang-tidy) || {
    echo "tidy: clang-tidy not installed (Debian package clang-tidy)"
    exit 1
}

# Translation units under src/ (the unit tests and fuzzers are left out).
mapfile -t files < <(python3 -c '
import json, sys
for e in json.load(open(sys.argv[1])):
    if e["file"].startswith(sys.argv[2]):
        print(e["file"])
' "$BUILD/compile_commands.json" "$ROOT/src/" | sort -u)
if [[ ${#files[@]} -eq 0 ]]; then
    echo "tidy: no file of src/ in $BUILD/compile_commands.json"
    exit 1
fi

# One clang-tidy per file, $JOBS at a time.
run() {
    local runner
    runner=$(command -v run-clang-tidy-14 || command -v run-clang-tidy || true)
    if [[ -n "$runner" ]]; then
        "$runner" -quiet -clang-tidy-binary "$TIDY" -p "$BUILD" -j "$JOBS" "${files[@]}"
    else
        printf '%s\0' "${files[@]}" | xargs -0 -n 1 -P "$JOBS" "$TIDY" --quiet -p "$BUILD"
    fi
}

# Only the findings: not the command lines run-clang-tidy echoes, the counts
# of warnings outside the checks, nor colours (this ends up in a log).
run 2>&1 | sed 's/\x1b\[[0-9;]*m//g' |
    grep -v -e "^$TIDY " -e '^[0-9]* warnings\? generated\.$' -e '^Suppressed [0-9]* warnings' \
        -e '^Use -header-filter='
rc=${PIPESTATUS[0]}

if [[ $rc -eq 0 ]]; then
    echo "tidy: ${#files[@]} files clean ($((SECONDS - t0)) s)"
else
    echo "tidy: findings in src/ ($((SECONDS - t0)) s)"
fi
exit "$rc"
