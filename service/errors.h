/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* errors.h: the service's D-Bus errors and their errno mapping. */
#pragma once

#include <systemd/sd-bus.h>

extern const sd_bus_error_map vfiod_error_map[];

/* A printable, bounded rendering of untrusted text for error messages:
 * control characters escaped, cut at 64 characters.  Newly allocated. */
char *errors_quote_untrusted (const char *text);
