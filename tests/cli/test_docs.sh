#!/usr/bin/env bash
# The repository is self-contained: no doc, comment or script points at files a user's clone does not have
# (the development machines' shared folder one level above the clone, or a reference-notes folder under docs/ that is not in the repository).
# Usage: tests/cli/test_docs.sh [REPO_ROOT]
set -uo pipefail
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root" || exit 2
fail=0
# Paths git tracks; third-party code is not ours to change.
mapfile -t files < <(git ls-files -- '*.md' '*.h' '*.hpp' '*.cpp' '*.sh' '*.py' '*.txt' '*.cmake' 2>/dev/null |
                     grep -v '^third_party/')
# The patterns are spelled in pieces so that this file does not match itself.
up='\.\./'; shared='shared/'; ref_dir='docs/''reference'
if [ "${#files[@]}" -eq 0 ]; then echo "FAIL: no tracked files found under $root (not a git checkout?)"; exit 1; fi
for pattern in "$up$shared" "$ref_dir/"; do
  hits=$(grep -nE "$pattern" "${files[@]}" 2>/dev/null)
  if [ -n "$hits" ]; then
    echo "FAIL: references to '$pattern' (not in a user's clone):"; echo "$hits"; fail=1
  else
    echo "ok: no '$pattern' references in ${#files[@]} files"
  fi
done
if [ -d "$ref_dir" ]; then echo "FAIL: $ref_dir exists"; fail=1; fi
exit $fail
