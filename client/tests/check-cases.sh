#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The g_test cases a binary defines are exactly the ones meson.build runs
# one by one: "-p /typo" would run nothing and pass, so check the lists.
set -eu
exe="$1"; shift
defined=$("$exe" -l | grep '^/' | sort)
registered=$(printf '%s\n' "$@" | sort)
if [ "$defined" != "$registered" ]; then
        echo "cases defined in $exe and registered in meson.build differ:"
        printf '%s\n' "$defined" > "${TMPDIR:-/tmp}/defined.$$"
        printf '%s\n' "$registered" > "${TMPDIR:-/tmp}/registered.$$"
        diff -u "${TMPDIR:-/tmp}/defined.$$" "${TMPDIR:-/tmp}/registered.$$" || true
        rm -f "${TMPDIR:-/tmp}/defined.$$" "${TMPDIR:-/tmp}/registered.$$"
        exit 1
fi
echo "ok: $(printf '%s\n' "$defined" | wc -l) cases"
