/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inuse_parse_swaps() and the reasons built from it: a swap file's name
 * is chosen by whoever runs swapon. */
#include "fuzz.h"

#include <sys/sysmacros.h>

#include "inuse.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_text (data, size);
  g_autoptr (InUseFacts) facts = inuse_facts_new ();
  g_autofree char *reason = NULL;

  inuse_parse_swaps (facts, text);
  for (guint i = 0; i < facts->swaps->len; i++)
    {
      const InUseSwap *s = g_ptr_array_index (facts->swaps, i);

      fuzz_check (s->filename != NULL && s->filename[0] == '/');
      fuzz_check (s->devnum == 0);
    }
  reason = inuse_block_reason (facts, "sda3", makedev (8, 3), NULL);
  return 0;
}
