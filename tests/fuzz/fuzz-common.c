/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by every harness: quiet logging that turns failed checks into aborts. */
#include "fuzz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GLib's wording for g_return_if_fail(), g_return_val_if_fail()
 * ("func: assertion 'expr' failed") and g_warn_if_fail()
 * ("file:line:func: runtime check failed: (expr)"): a precondition of some
 * function was broken.  Matched whole, from the start: a message that
 * merely quotes the input (which may say "runtime check failed") is not
 * one. */
static GRegex *failed_check;

static bool
is_failed_check (const GLogField *fields, gsize n_fields)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0 && fields[i].length < 0)
      return g_regex_match (failed_check, fields[i].value, 0, NULL);
  return false;
}

static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  /* Messages about rejected input are what parsers are for: drop them
   * (printing them would cost most of the fuzzer's time), criticals too,
   * as the daemon uses them to log loudly that it will not act on
   * something.  A failed precondition check or g_error() is a bug: crash
   * where it happened. */
  if ((level & G_LOG_LEVEL_ERROR) || is_failed_check (fields, n_fields))
    {
      g_log_writer_standard_streams (level, fields, n_fields, user_data);
      abort ();
    }
  return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  failed_check =
      g_regex_new ("^(?:[A-Za-z_][A-Za-z0-9_]*: assertion '.*' failed"
                   "|[^ :]+:[0-9]+:[A-Za-z_][A-Za-z0-9_]*: runtime check failed: \\(.*\\))$",
                   G_REGEX_DOTALL | G_REGEX_OPTIMIZE, 0, NULL);
  g_assert (failed_check != NULL);
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
  return 0;
}

char *
fuzz_text (const uint8_t *data, size_t size)
{
  char *text = g_malloc (size + 1);

  if (size > 0)
    memcpy (text, data, size);
  text[size] = '\0';
  return text;
}

void
fuzz_fail (const char *file, int line, const char *expr)
{
  fprintf (stderr, "%s:%d: check failed: %s\n", file, line, expr);
  abort ();
}
