/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bootid.h"

#include <string.h>

#include "kernel-names.h"

gboolean
boot_id_valid (const char *s)
{
  if (s == NULL || strlen (s) != 36)
    return FALSE;
  for (int i = 0; i < 36; i++)
    {
      gboolean dash = i == 8 || i == 13 || i == 18 || i == 23;

      if (dash ? s[i] != '-' : !(g_ascii_isdigit (s[i]) || (s[i] >= 'a' && s[i] <= 'f')))
        return FALSE;
    }
  return TRUE;
}

gboolean
boot_id_same (const char *recorded, const char *current)
{
  return recorded != NULL && current != NULL && strcmp (recorded, current) == 0;
}

const char *
boot_id_current (void)
{
  static gsize once;
  static char *id;

  if (g_once_init_enter (&once))
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (VFIOD_PROC_BOOT_ID, &text, NULL, NULL))
        {
          g_strstrip (text);
          if (boot_id_valid (text))
            id = g_steal_pointer (&text);
        }
      if (id == NULL)
        g_warning ("Cannot read this boot's id from " VFIOD_PROC_BOOT_ID
                   ": records of earlier runs will not be acted on");
      g_once_init_leave (&once, 1);
    }
  return id;
}
