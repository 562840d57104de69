/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bootid.h"

#include <string.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

gboolean
boot_id_valid (const char *s)
{
  if (s == NULL || strlen (s) != 36)
    return FALSE;
  for (int i = 0; i < 36; i++)
    {
      if (i == 8 || i == 13 || i == 18 || i == 23)
        {
          if (s[i] != '-')
            return FALSE;
        }
      else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
        return FALSE;
    }
  return TRUE;
}

static gpointer
boot_id_read (gpointer data)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  (void) data;
  if (!g_file_get_contents (BOOT_ID_PATH, &text, NULL, &error))
    {
      g_warning ("Cannot read the boot id: %s", error->message);
      return NULL;
    }
  g_strchomp (text);
  if (!boot_id_valid (text))
    {
      g_autofree char *shown = g_strescape (text, NULL);
      g_warning ("%s is not a boot id: \"%s\"", BOOT_ID_PATH, shown);
      return NULL;
    }
  return g_steal_pointer (&text);
}

const char *
boot_id_current (void)
{
  static GOnce once = G_ONCE_INIT;

  return g_once (&once, boot_id_read, NULL);
}
