#!/bin/sh
# Format every C file of the project with the committed .clang-format.
#   scripts/format.sh          rewrite files in place
#   scripts/format.sh --check  list files that differ and exit 1 (the suite runs this)
# The files are those git knows (tracked or new, not ignored): without git,
# or outside a git checkout, there is no list and the script fails (exit 2)
# rather than pass having checked nothing.
set -eu
cd "$(dirname "$0")/.."
if ! command -v git >/dev/null 2>&1; then
    echo "format.sh: git not found: it lists the files to check (scripts/deps.sh installs it)" >&2
    exit 2
fi
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "format.sh: $(pwd) is not a git checkout: no list of files to check (clone the repository)" >&2
    exit 2
fi
files=$(git ls-files -co --exclude-standard '*.c' '*.h' | grep -v '^build' || true)
if [ -z "$files" ]; then
    echo "format.sh: git lists no C files in $(pwd)" >&2
    exit 2
fi
if ! command -v clang-format >/dev/null 2>&1; then
    echo "format.sh: clang-format not found (scripts/deps.sh installs it)" >&2
    exit 2
fi
if [ "${1:-}" = "--check" ]; then
    # One clang-format per file, as many at once as there are cores.
    bad=$(echo "$files" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
        'clang-format --style=file "$1" | cmp -s - "$1" || echo "needs formatting: $1 (run scripts/format.sh)"' \
        sh {})
    [ -z "$bad" ] || { echo "$bad"; exit 1; }
    exit 0
fi
echo "$files" | xargs clang-format --style=file -i
