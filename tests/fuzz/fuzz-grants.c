/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* grants_parse(): the record of ACL entries given survives crashes and
 * hand edits; the daemon acts on what it says (removes ACL entries), so
 * it must never crash on it, and every grant that comes out must name a
 * node vfiod grants, with a boot id the kernel could have given and a
 * non-empty list of members by address (or, from an older vfiod, neither). */
#include "fuzz.h"

#include <string.h>

#include "bootid.h"
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
      fuzz_check ((g->boot_id == NULL) == (g->members == NULL));
      fuzz_check (g->boot_id == NULL || boot_id_valid (g->boot_id));
      if (g->members)
        {
          fuzz_check (g->members->len > 0 && g->members->len <= GRANT_MAX_MEMBERS);
          for (guint j = 1; j < g->members->len; j++)
            fuzz_check (address_compare (&g_array_index (g->members, GrantMember, j - 1).address,
                                         &g_array_index (g->members, GrantMember, j).address) < 0);
        }
    }
  return 0;
}
