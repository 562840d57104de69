/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* state_parse(): the state file survives crashes and hand edits, so the
 * daemon must never crash on it nor act on a record it cannot validate. */
#include "fuzz.h"

#include "state.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* NUL-terminated like g_file_get_contents() gives it to state_open(),
   * with the full length (a NUL inside is the key file parser's business) */
  g_autofree char *text = fuzz_text (data, size);
  g_autoptr (GPtrArray) records = state_parse (text, size);

  fuzz_check (records != NULL);
  /* the array owns what it holds: freeing it frees the records (LSan
   * reports anything left) */
  return 0;
}
