#!/usr/bin/env bash
# Fetches the real-module corpus (npm packages and Debian files that others
# published, sha256-pinned) into $CORPUS or ~/.cache/wasmtime-napi-corpus.
# The fetch script lives in the workspace's shared/corpus beside this repo.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
corpus="${CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmtime-napi-corpus}"
fetch="${CORPUS_FETCH:-$here/../shared/corpus/fetch.sh}"
tests="$(dirname "$fetch")/tests.json"
if [ -f "$corpus/manifest.tsv" ] && [ -d "$corpus/fs/eda-root" ] && [ -z "${CORPUS_REFRESH:-}" ]; then
  echo "corpus: using $corpus ($(($(wc -l < "$corpus/manifest.tsv") - 1)) modules)"
else
  if [ ! -f "$fetch" ]; then
    echo "corpus: no fetch script at $fetch; corpus tests will be skipped (set CORPUS_FETCH)" >&2
    exit 0
  fi
  CORPUS="$corpus" bash "$fetch"
fi
# The WASI acceptance list (invocations and node:wasi's results) goes with it.
[ -f "$tests" ] && cp "$tests" "$corpus/tests.json"
exit 0
