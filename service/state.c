/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "address.h"
#include "device.h"
#include "vfiod-names.h"

#define KEY_GROUP    "group"
#define KEY_KNOWN    "known"
#define KEY_DRIVER   "driver"
#define KEY_OVERRIDE "override"
#define KEY_PENDING  "pending"

struct State {
  GMutex lock;
  char *path;
  GHashTable *records; /* device → StateRecord* */
};

void
state_record_free (StateRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->device);
  g_free (record->driver);
  g_free (record->override);
  g_free (record);
}

static StateRecord *
record_copy (const StateRecord *r)
{
  StateRecord *copy = g_new0 (StateRecord, 1);

  *copy = *r;
  copy->device = g_strdup (r->device);
  copy->driver = g_strdup (r->driver);
  copy->override = g_strdup (r->override);
  return copy;
}

static const char *
op_to_string (StateOp op)
{
  return op == STATE_OP_DETACH ? VFIOD_ACTION_DETACH : op == STATE_OP_REATTACH ? VFIOD_ACTION_REATTACH : "";
}

/* An optional driver name: "" means none. */
static gboolean
read_driver (GKeyFile *kf, const char *group, const char *key, char **out)
{
  g_autofree char *value = g_key_file_get_string (kf, group, key, NULL);

  if (value == NULL)
    return FALSE;
  if (*value == '\0')
    {
      *out = NULL;
      return TRUE;
    }
  if (!device_driver_name_valid (value))
    return FALSE;
  *out = g_steal_pointer (&value);
  return TRUE;
}

static StateRecord *
record_from_keyfile (GKeyFile *kf, const char *name)
{
  g_autoptr (StateRecord) r = g_new0 (StateRecord, 1);
  g_autofree char *group = NULL, *pending = NULL, *known = NULL;
  char normal[ADDRESS_STRLEN];
  PciAddress address;
  guint64 number;

  if (!address_parse (name, &address) || strcmp (address_format (&address, normal), name) != 0)
    return NULL;
  r->device = g_strdup (name);

  group = g_key_file_get_string (kf, name, KEY_GROUP, NULL);
  if (!group || !g_ascii_string_to_unsigned (group, 10, 0, G_MAXUINT32, &number, NULL))
    return NULL;
  r->group = (uint32_t) number;

  known = g_key_file_get_string (kf, name, KEY_KNOWN, NULL);
  if (g_strcmp0 (known, "true") == 0)
    {
      r->known = TRUE;
      if (!read_driver (kf, name, KEY_DRIVER, &r->driver) ||
          !read_driver (kf, name, KEY_OVERRIDE, &r->override))
        return NULL;
    }
  else if (g_strcmp0 (known, "false") != 0)
    return NULL;

  pending = g_key_file_get_string (kf, name, KEY_PENDING, NULL);
  if (pending == NULL || *pending == '\0')
    r->pending = STATE_OP_NONE;
  else if (strcmp (pending, VFIOD_ACTION_DETACH) == 0)
    r->pending = STATE_OP_DETACH;
  else if (strcmp (pending, VFIOD_ACTION_REATTACH) == 0)
    r->pending = STATE_OP_REATTACH;
  else
    return NULL;

  return g_steal_pointer (&r);
}

GPtrArray *
state_parse (const char *text, gsize length)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) state_record_free);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) groups = NULL;

  if (!g_key_file_load_from_data (kf, text, length, G_KEY_FILE_NONE, &error))
    {
      g_warning ("Ignoring the state file: it does not parse (%s)", error->message);
      return g_steal_pointer (&records);
    }
  groups = g_key_file_get_groups (kf, NULL);
  for (char **g = groups; *g; g++)
    {
      StateRecord *r = record_from_keyfile (kf, *g);
      if (r == NULL)
        {
          g_autofree char *quoted = g_strescape (*g, NULL);
          g_warning ("Ignoring the state file's record [%s]: it is not valid", quoted);
          continue;
        }
      g_ptr_array_add (records, r);
    }
  return g_steal_pointer (&records);
}

const char *
state_default_dir (void)
{
  static char *dir;
  const char *env;

  if (dir == NULL)
    {
      env = g_getenv ("STATE_DIRECTORY");
      /* systemd passes a colon-separated list: ours is the first */
      dir = env && *env ? g_strndup (env, strcspn (env, ":")) : g_strdup (VFIOD_STATE_DIR_DEFAULT);
    }
  return dir;
}

State *
state_open (const char *dir, GError **error)
{
  State *self;
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  gsize length = 0;

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                   "Cannot create the state directory %s: %s", dir, g_strerror (e));
      return NULL;
    }

  self = g_new0 (State, 1);
  g_mutex_init (&self->lock);
  self->path = g_build_filename (dir, VFIOD_STATE_FILE, NULL);
  self->records = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) state_record_free);

  if (g_file_get_contents (self->path, &text, &length, &local))
    {
      g_autoptr (GPtrArray) records = state_parse (text, length);

      g_ptr_array_set_free_func (records, NULL); /* the table owns them now */
      for (guint i = 0; i < records->len; i++)
        {
          StateRecord *r = g_ptr_array_index (records, i);
          g_hash_table_replace (self->records, r->device, r);
        }
    }
  else if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    g_warning ("Cannot read %s: %s; starting with no records", self->path, local->message);

  return self;
}

void
state_free (State *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->records);
  g_free (self->path);
  g_mutex_clear (&self->lock);
  g_free (self);
}

/* Called with the lock held. */
static gboolean
state_save (State *self, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree char *data = NULL;
  g_autoptr (GList) keys = g_hash_table_get_keys (self->records);
  gsize length;

  keys = g_list_sort (keys, (GCompareFunc) g_strcmp0);
  for (GList *l = keys; l; l = l->next)
    {
      const StateRecord *r = g_hash_table_lookup (self->records, l->data);

      g_key_file_set_uint64 (kf, r->device, KEY_GROUP, r->group);
      g_key_file_set_string (kf, r->device, KEY_KNOWN, r->known ? "true" : "false");
      if (r->known)
        {
          g_key_file_set_string (kf, r->device, KEY_DRIVER, r->driver ? r->driver : "");
          g_key_file_set_string (kf, r->device, KEY_OVERRIDE, r->override ? r->override : "");
        }
      if (r->pending != STATE_OP_NONE)
        g_key_file_set_string (kf, r->device, KEY_PENDING, op_to_string (r->pending));
    }

  data = g_key_file_to_data (kf, &length, NULL);
  return g_file_set_contents_full (self->path, data, (gssize) length,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   0600, error);
}

StateRecord *
state_lookup (State *self, const char *device)
{
  StateRecord *r, *copy = NULL;

  g_mutex_lock (&self->lock);
  r = g_hash_table_lookup (self->records, device);
  if (r)
    copy = record_copy (r);
  g_mutex_unlock (&self->lock);
  return copy;
}

GPtrArray *
state_list_pending (State *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) state_record_free);
  GHashTableIter iter;
  StateRecord *r;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &r))
    if (r->pending != STATE_OP_NONE)
      g_ptr_array_add (out, record_copy (r));
  g_mutex_unlock (&self->lock);
  return out;
}

GHashTable *
state_originals (State *self)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  StateRecord *r;

  g_mutex_lock (&self->lock);
  g_hash_table_iter_init (&iter, self->records);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &r))
    if (r->known)
      g_hash_table_insert (out, g_strdup (r->device), g_strdup (r->driver ? r->driver : ""));
  g_mutex_unlock (&self->lock);
  return out;
}

/* Replaces (or, with NULL, removes) the record of @device and saves; on a failed save
 * the in-memory record is restored, so memory never says more than disk. */
static gboolean
state_update (State *self, const char *device, StateRecord *replacement, GError **error)
{
  StateRecord *old;
  gboolean ok;

  g_mutex_lock (&self->lock);
  old = g_hash_table_lookup (self->records, device);
  old = old ? record_copy (old) : NULL;
  if (replacement)
    g_hash_table_replace (self->records, replacement->device, replacement);
  else
    g_hash_table_remove (self->records, device);

  ok = state_save (self, error);
  if (!ok)
    {
      if (old)
        g_hash_table_replace (self->records, old->device, old);
      else
        g_hash_table_remove (self->records, device);
    }
  else
    state_record_free (old);
  g_mutex_unlock (&self->lock);
  return ok;
}

gboolean
state_begin_detach (State *self, const char *device, uint32_t group,
                    const char *driver, const char *override, GError **error)
{
  StateRecord *r = g_new0 (StateRecord, 1);

  r->device = g_strdup (device);
  r->group = group;
  r->known = TRUE;
  r->driver = g_strdup (driver);
  r->override = g_strdup (override);
  r->pending = STATE_OP_DETACH;
  return state_update (self, device, r, error);
}

gboolean
state_begin_reattach (State *self, const char *device, uint32_t group, GError **error)
{
  StateRecord *r = state_lookup (self, device);

  if (r == NULL)
    {
      r = g_new0 (StateRecord, 1);
      r->device = g_strdup (device);
      r->known = FALSE;
    }
  r->group = group;
  r->pending = STATE_OP_REATTACH;
  return state_update (self, device, r, error);
}

gboolean
state_finish (State *self, const char *device, gboolean detached, GError **error)
{
  StateRecord *r = NULL;

  if (detached)
    {
      r = state_lookup (self, device);
      if (r == NULL)
        return TRUE;
      r->pending = STATE_OP_NONE;
    }
  return state_update (self, device, r, error);
}
