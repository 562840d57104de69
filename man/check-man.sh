#!/bin/sh
# check-man.sh UNIT PAGE...: every page renders without a groff warning,
# and every man: link of the unit's Documentation= is one of the pages.
set -u
unit=$1; shift
status=0
for page in "$@"; do
  out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
  if [ -n "$out" ]; then
    printf '%s:\n%s\n' "$page" "$out"
    status=1
  fi
done
for doc in $(sed -n 's/^Documentation=man:\(.*\)(\(.*\))$/\1.\2/p' "$unit"); do
  found=no
  for page in "$@"; do
    [ "$(basename "$page")" = "$doc" ] && found=yes
  done
  if [ "$found" = no ]; then
    echo "$unit: Documentation=man: names $doc, which is not built"
    status=1
  fi
done
[ $status -eq 0 ] && echo "$# pages, no warnings; the unit's pages exist"
exit $status
