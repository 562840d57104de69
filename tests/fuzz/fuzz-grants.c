/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* grants_parse(): the record of ACL entries given survives crashes and
 * hand edits; the daemon acts on what it says (removes ACL entries), so
 * it must never crash on it, and every grant that comes out must name a
 * node vfiod grants. */
#include "fuzz.h"

#include <string.h>

#include "grants.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = fuzz_text (data, size);
  g_autoptr (GPtrArray) grants = grants_parse (text, size);

  fuzz_check (grants != NULL);
  for (guint i = 0; i < grants->len; i++)
    {
      const Grant *g = g_ptr_array_index (grants, i);
      g_autofree char *node = g_strdup_printf ("/dev/vfio/%u", g->group);

      fuzz_check (strcmp (g->path, node) == 0 ||
                  g_str_has_prefix (g->path, "/dev/vfio/devices/vfio"));
      fuzz_check (strstr (g->path, "..") == NULL);
      fuzz_check (g->uid != (uid_t) -1);
    }
  return 0;
}
