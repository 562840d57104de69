/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* boot_note_parse(): the boot helper's notes in /run decide whether the
 * real root gives a device back, and the daemon reports them: a note must
 * parse exactly or not at all, and what parses must format and parse back
 * the same, and describe itself without overrunning. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "bootnote.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  BootNote n, back;
  char why[128], text_buf[128];
  char *text;

  memset (&back, 0, sizeof back);
  if (boot_note_parse ((const char *) data, size, &n, why, sizeof why) < 0)
    return 0;
  fuzz_check (boot_note_state_to_string (n.state) != NULL);
  fuzz_check ((boot_note_describe (&n, text_buf, sizeof text_buf) != NULL) ==
              boot_note_is_stale (&n));
  text = boot_note_format (&n);
  fuzz_check (text != NULL);
  fuzz_check (boot_note_parse (text, strlen (text), &back, why, sizeof why) == 0);
  fuzz_check (memcmp (&n, &back, sizeof n) == 0);
  free (text);
  return 0;
}
