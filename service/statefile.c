/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "statefile.h"

#include <errno.h>

gboolean
statefile_make_dir (const char *dir, GError **error)
{
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                   "Cannot create the state directory %s: %s", dir, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

char *
statefile_read (const char *path, gsize *length, const char *what)
{
  g_autoptr (GError) error = NULL;
  char *text = NULL;

  if (g_file_get_contents (path, &text, length, &error))
    return text;
  if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    g_warning ("Cannot read %s: %s; starting with %s", path, error->message, what);
  return NULL;
}

gboolean
statefile_write (const char *path, const char *data, gsize length, GError **error)
{
  return g_file_set_contents_full (path, data, (gssize) length,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}
