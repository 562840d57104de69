/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by every harness: quiet logging that turns criticals into aborts. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields,
                 gpointer user_data)
{
  /* Warnings about rejected input are what parsers are for: drop them
   * (printing them would cost most of the fuzzer's time).  A critical is
   * a g_return_if_fail() that fired: a bug, so crash where it happened. */
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
    {
      g_log_writer_standard_streams (level, fields, n_fields, user_data);
      abort ();
    }
  return G_LOG_WRITER_HANDLED;
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
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
