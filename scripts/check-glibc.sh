#!/usr/bin/env bash
# Checks that a Linux shared object (an addon .node) needs no glibc newer than
# a given version: reads the versioned symbols it imports (objdump -T), prints
# the highest GLIBC_x.y among them, and the symbols that need more than <max>.
#   scripts/check-glibc.sh <addon.node> <max, e.g. 2.17>
# Exit 0: highest <= max (or no GLIBC versions at all, e.g. a musl build);
# 1: above max (or GLIBC_PRIVATE is needed); 2: usage error or unreadable file.
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 <addon.node> <max glibc version, e.g. 2.17>" >&2
  exit 2
fi
file=$1
max=$2
if ! [[ $max =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
  echo "check-glibc: '$max' is not a version like 2.17" >&2
  exit 2
fi
if [ ! -f "$file" ]; then
  echo "check-glibc: no such file: $file" >&2
  exit 2
fi
if ! syms=$(LC_ALL=C objdump -T "$file" 2>&1); then
  echo "check-glibc: objdump -T failed on $file:" >&2
  echo "$syms" >&2
  exit 2
fi

# Lines look like "0000000000000000      DF *UND*  0000000000000000 (GLIBC_2.2.5) memcpy"
# (older binutils print the version without parentheses). Keep "version symbol".
needs=$(awk '{
  for (i = 1; i <= NF; i++) {
    v = $i; gsub(/[()]/, "", v)
    if (v ~ /^GLIBC_([0-9]+(\.[0-9]+)*|PRIVATE)$/) { sub(/^GLIBC_/, "", v); print v, $NF }
  }
}' <<<"$syms")

if [ -z "$needs" ]; then
  echo "check-glibc: $file needs no versioned glibc symbols (max $max): OK"
  exit 0
fi

status=0
if grep -q '^PRIVATE ' <<<"$needs"; then
  echo "check-glibc: $file needs GLIBC_PRIVATE symbols: $(awk '$1 == "PRIVATE" { printf "%s ", $2 }' <<<"$needs")" >&2
  status=1
fi
highest=$(awk '$1 != "PRIVATE" { print $1 }' <<<"$needs" | sort -u -V | tail -n 1)
if [ -z "$highest" ]; then
  echo "check-glibc: $file needs no numbered GLIBC version (max $max)"
  exit "$status"
fi
# sort -V compares version numbers (2.9 < 2.17), not strings.
newer() { [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]; }
if newer "$highest" "$max"; then
  echo "check-glibc: $file needs GLIBC_$highest, above the maximum $max: FAIL" >&2
  echo "check-glibc: symbols that need more than $max:" >&2
  while read -r v sym; do
    if [ "$v" != PRIVATE ] && newer "$v" "$max"; then echo "  $sym (GLIBC_$v)" >&2; fi
  done <<<"$needs"
  exit 1
fi
echo "check-glibc: $file needs at most GLIBC_$highest (max $max): OK"
exit "$status"
