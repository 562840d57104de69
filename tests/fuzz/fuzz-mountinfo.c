/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inuse_parse_mountinfo() and the reasons built from what it parsed:
 * mount points and sources are chosen by whoever can mount. */
#include "fuzz.h"

#include <sys/sysmacros.h>

#include "inuse.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_text (data, size);
  g_autoptr (InUseFacts) facts = inuse_facts_new ();
  g_autofree char *disk = NULL;
  g_autofree char *part = NULL;
  g_autofree char *tag = NULL;
  const char *const holders[] = { "dm-0", NULL };

  inuse_parse_mountinfo (facts, text);
  for (guint i = 0; i < facts->mounts->len; i++)
    {
      const InUseMount *m = g_ptr_array_index (facts->mounts, i);

      fuzz_check (m->mountpoint != NULL && m->source != NULL && m->fstype != NULL);
    }

  /* the consumers of the parsed table: names from the seeds */
  disk = inuse_block_reason (facts, "sda", makedev (8, 0), NULL);
  part = inuse_block_reason (facts, "sda2", makedev (8, 2), holders);
  tag = inuse_tag_reason (facts, "hostshare");
  return 0;
}
