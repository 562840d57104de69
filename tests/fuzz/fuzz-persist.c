/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* persist_record_parse(): persistent assignments are configuration a
 * person may edit and a crash may cut short; the boot-time helper binds
 * what they say, so a record must parse exactly or not at all, and what
 * parses must format and parse back the same.  The same bytes as a kernel
 * command line: persist_cmdline_enabled() answers 1, 0 or -EINVAL, and
 * never reads past the end. */
#include "fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  PersistRecord r, back;
  char why[128];
  char *text, *cmdline;
  int enabled;

  cmdline = malloc (size + 1);
  fuzz_check (cmdline != NULL);
  memcpy (cmdline, data, size);
  cmdline[size] = '\0';
  enabled = persist_cmdline_enabled (cmdline);
  fuzz_check (enabled == 1 || enabled == 0 || enabled == -EINVAL);
  free (cmdline);

  if (persist_record_parse ((const char *) data, size, &r, why, sizeof why) < 0)
    return 0;
  text = persist_record_format (&r);
  fuzz_check (text != NULL);
  fuzz_check (persist_record_parse (text, strlen (text), &back, why, sizeof why) == 0);
  fuzz_check (memcmp (&r, &back, sizeof r) == 0);
  free (text);
  return 0;
}
