#!/bin/sh
# Format every C file of the project with the committed .clang-format.
#   scripts/format.sh          rewrite files in place
#   scripts/format.sh --check  list files that differ and exit 1 (the suite runs this)
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files -co --exclude-standard '*.c' '*.h' | grep -v '^build' || true)
[ -n "$files" ] || exit 0
if [ "${1:-}" = "--check" ]; then
    bad=0
    for f in $files; do
        if ! clang-format --style=file "$f" | cmp -s - "$f"; then
            echo "needs formatting: $f (run scripts/format.sh)"; bad=1
        fi
    done
    exit $bad
fi
echo "$files" | xargs clang-format --style=file -i
