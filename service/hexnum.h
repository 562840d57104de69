/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hexnum.h: hexadecimal numbers in untrusted text (uevents, records,
 * sysfs attributes).  Pure and free of GLib: the boot helper links it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The @len bytes at @text are @min_digits to @max_digits (at most 8) hex
 * digits, in either case, and nothing else: true and *@out, else false
 * with *@out untouched. */
bool hexnum_parse (const char *text, size_t len, size_t min_digits, size_t max_digits,
                   uint32_t *out);

/* "0x" or "0X" and then as hexnum_parse(), over the NUL-terminated @text. */
bool hexnum_parse_prefixed (const char *text, size_t min_digits, size_t max_digits, uint32_t *out);
