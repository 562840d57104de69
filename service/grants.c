/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "grants.h"

#include <errno.h>
#include <string.h>

#include "statefile.h"
#include "names.h"

struct Grants {
  GMutex lock;
  char *path;
  GPtrArray *grants; /* Grant*, sorted */
};

void
grant_free (Grant *g)
{
  if (g == NULL)
    return;
  g_free (g->path);
  g_free (g);
}

Grant *
grant_new (const char *path, uint32_t group, uid_t uid, bool revoking)
{
  Grant *g = g_new0 (Grant, 1);

  g->path = g_strdup (path);
  g->group = group;
  g->uid = uid;
  g->revoking = revoking;
  return g;
}

static gint
grant_compare (gconstpointer a, gconstpointer b)
{
  const Grant *x = *(const Grant **) a, *y = *(const Grant **) b;
  int c = strcmp (x->path, y->path);

  return c ? c : (x->uid > y->uid) - (x->uid < y->uid);
}

/* Only the nodes vfiod grants: a record naming any other file (a state
 * file edited by hand, or corrupted) is never acted on. */
static gboolean
node_path_valid (const char *path, uint32_t group)
{
  g_autofree char *group_node = g_strdup_printf (VFIOD_DEV_VFIO_DIR "/%u", group);
  const char *tail;
  guint64 n;

  if (strcmp (path, group_node) == 0)
    return TRUE;
  if (!g_str_has_prefix (path, VFIOD_DEV_VFIO_DEVICES_DIR "/vfio"))
    return FALSE;
  tail = path + strlen (VFIOD_DEV_VFIO_DEVICES_DIR "/vfio");
  if (!g_ascii_string_to_unsigned (tail, 10, 0, G_MAXINT32, &n, NULL))
    return FALSE;
  /* the kernel's spelling only: no "vfio01" */
  return strcmp (tail, "0") == 0 || tail[0] != '0';
}

GPtrArray *
grants_parse (const char *text, gsize length)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  g_auto (GStrv) sections = NULL;

  if (!g_key_file_load_from_data (kf, text, length, G_KEY_FILE_NONE, NULL))
    {
      g_warning ("The grants record is not a key file: ignored");
      return out;
    }
  sections = g_key_file_get_groups (kf, NULL);
  for (char **s = sections; *s; s++)
    {
      g_autofree char *path = g_key_file_get_string (kf, *s, "path", NULL);
      g_autofree char *group = g_key_file_get_string (kf, *s, "group", NULL);
      g_autofree char *uid = g_key_file_get_string (kf, *s, "uid", NULL);
      g_autofree char *revoking = g_key_file_get_string (kf, *s, "revoking", NULL);
      guint64 g, u;

      if (!g_str_has_prefix (*s, "grant ") || path == NULL || group == NULL || uid == NULL ||
          !g_ascii_string_to_unsigned (group, 10, 0, G_MAXUINT32, &g, NULL) ||
          /* (uid_t) -1 is "no user" */
          !g_ascii_string_to_unsigned (uid, 10, 0, G_MAXUINT32 - 1, &u, NULL) ||
          !node_path_valid (path, (uint32_t) g) || (revoking && strcmp (revoking, "true") != 0))
        {
          g_autofree char *shown = g_strescape (*s, NULL);
          g_warning ("Ignoring a malformed entry of the grants record: [%s]", shown);
          continue;
        }
      g_ptr_array_add (out, grant_new (path, (uint32_t) g, (uid_t) u, revoking != NULL));
    }
  g_ptr_array_sort (out, grant_compare);
  return out;
}

static char *
grants_to_data (GPtrArray *grants, gsize *length)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();

  for (guint i = 0; i < grants->len; i++)
    {
      const Grant *g = g_ptr_array_index (grants, i);
      g_autofree char *section = g_strdup_printf ("grant %u", i + 1);

      g_key_file_set_string (kf, section, "path", g->path);
      g_key_file_set_uint64 (kf, section, "group", g->group);
      g_key_file_set_uint64 (kf, section, "uid", g->uid);
      if (g->revoking)
        g_key_file_set_string (kf, section, "revoking", "true");
    }
  return g_key_file_to_data (kf, length, NULL);
}

Grants *
grants_open (const char *dir, GError **error)
{
  Grants *self;
  g_autofree char *text = NULL;
  gsize length = 0;

  if (!statefile_make_dir (dir, error))
    return NULL;
  self = g_new0 (Grants, 1);
  g_mutex_init (&self->lock);
  self->path = g_build_filename (dir, VFIOD_GRANTS_FILE, NULL);
  text = statefile_read (self->path, &length, "no grants");
  self->grants = text ? grants_parse (text, length)
                      : g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
  return self;
}

void
grants_free (Grants *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->grants);
  g_free (self->path);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* Saves @next; on success it replaces the grants in memory, on failure it
 * is dropped: memory never says more than disk.  Lock held. */
static gboolean
commit (Grants *self, GPtrArray *next, GError **error)
{
  gsize length;
  g_autofree char *data = grants_to_data (next, &length);

  if (!statefile_write (self->path, data, length, error))
    {
      g_ptr_array_unref (next);
      return FALSE;
    }
  g_ptr_array_unref (self->grants);
  self->grants = next;
  return TRUE;
}

static GPtrArray *
copy_where (GPtrArray *grants, const char *skip_path, uid_t skip_uid, int64_t group)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);

  for (guint i = 0; i < grants->len; i++)
    {
      const Grant *g = g_ptr_array_index (grants, i);
      if (skip_path && strcmp (g->path, skip_path) == 0 && g->uid == skip_uid)
        continue;
      if (group >= 0 && g->group != group)
        continue;
      g_ptr_array_add (out, grant_new (g->path, g->group, g->uid, g->revoking));
    }
  return out;
}

gboolean
grants_add (Grants *self, const char *path, uint32_t group, uid_t uid, GError **error)
{
  GPtrArray *next;
  gboolean ok;

  g_return_val_if_fail (node_path_valid (path, group), FALSE);
  g_mutex_lock (&self->lock);
  next = copy_where (self->grants, path, uid, -1);
  g_ptr_array_add (next, grant_new (path, group, uid, false));
  g_ptr_array_sort (next, grant_compare);
  ok = commit (self, next, error);
  g_mutex_unlock (&self->lock);
  return ok;
}

gboolean
grants_remove (Grants *self, const char *path, uid_t uid, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->grants->len; i++)
    {
      const Grant *g = g_ptr_array_index (self->grants, i);
      if (strcmp (g->path, path) == 0 && g->uid == uid)
        {
          ok = commit (self, copy_where (self->grants, path, uid, -1), error);
          break;
        }
    }
  g_mutex_unlock (&self->lock);
  return ok;
}

gboolean
grants_mark_revoking (Grants *self, const char *path, uid_t uid, GError **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->lock);
  for (guint i = 0; i < self->grants->len; i++)
    {
      const Grant *g = g_ptr_array_index (self->grants, i);
      if (strcmp (g->path, path) == 0 && g->uid == uid && !g->revoking)
        {
          GPtrArray *next = copy_where (self->grants, path, uid, -1);
          g_ptr_array_add (next, grant_new (path, g->group, uid, true));
          g_ptr_array_sort (next, grant_compare);
          ok = commit (self, next, error);
          break;
        }
    }
  g_mutex_unlock (&self->lock);
  return ok;
}

GPtrArray *
grants_list (Grants *self, int64_t group)
{
  GPtrArray *out;

  g_mutex_lock (&self->lock);
  out = copy_where (self->grants, NULL, 0, group);
  g_mutex_unlock (&self->lock);
  return out;
}
