/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "errors.h"

#include <errno.h>
#include <glib.h>

#include "names.h"

#define MAP_ENTRY(name, errnum) SD_BUS_ERROR_MAP (name, errnum),
const sd_bus_error_map vfiod_error_map[] = { VFIOD_ERRORS (MAP_ENTRY) SD_BUS_ERROR_MAP_END };
#undef MAP_ENTRY

char *
errors_quote_untrusted (const char *text)
{
  g_autofree char *cut = g_utf8_make_valid (text, MIN (strlen (text), 64));
  g_autofree char *escaped = g_strescape (cut, NULL);

  return g_strdup_printf ("\"%s\"%s", escaped, strlen (text) > 64 ? "…" : "");
}
