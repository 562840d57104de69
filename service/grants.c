/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "grants.h"

#include <errno.h>
#include <string.h>

#include "bootid.h"
#include "device.h"
#include "hexnum.h"
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
  g_free (g->boot_id);
  if (g->members)
    g_array_unref (g->members);
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

static GArray *
members_copy (GArray *members)
{
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (GrantMember), members->len);

  g_array_append_vals (out, members->data, members->len);
  return out;
}

Grant *
grant_copy (const Grant *grant)
{
  Grant *g = grant_new (grant->path, grant->group, grant->uid, grant->revoking);

  g->boot_id = g_strdup (grant->boot_id);
  g->members = grant->members ? members_copy (grant->members) : NULL;
  return g;
}

static gint
member_compare (gconstpointer a, gconstpointer b)
{
  return address_compare (&((const GrantMember *) a)->address, &((const GrantMember *) b)->address);
}

GArray *
grant_members_from_devices (GPtrArray *devices)
{
  GArray *out = g_array_sized_new (FALSE, FALSE, sizeof (GrantMember), devices->len);

  for (guint i = 0; i < devices->len; i++)
    {
      const Device *d = g_ptr_array_index (devices, i);
      GrantMember m = {
        .address = d->address,
        .vendor_id = d->vendor_id,
        .device_id = d->device_id,
        .subsystem_vendor_id = d->subsystem_vendor_id,
        .subsystem_device_id = d->subsystem_device_id,
      };
      g_array_append_val (out, m);
    }
  g_array_sort (out, member_compare);
  return out;
}

gboolean
grant_members_match (const Grant *grant, GPtrArray *devices, char **why)
{
  g_autoptr (GArray) now = grant_members_from_devices (devices);
  char a[ADDRESS_STRLEN], b[ADDRESS_STRLEN];

  if (grant->members == NULL)
    {
      if (why)
        *why = g_strdup ("the record names no members");
      return FALSE;
    }
  if (now->len != grant->members->len)
    {
      if (why)
        *why = g_strdup_printf ("%u members recorded, %u now", grant->members->len, now->len);
      return FALSE;
    }
  for (guint i = 0; i < now->len; i++)
    {
      const GrantMember *r = &g_array_index (grant->members, GrantMember, i);
      const GrantMember *n = &g_array_index (now, GrantMember, i);

      if (!address_equal (&r->address, &n->address))
        {
          if (why)
            *why = g_strdup_printf ("member %s recorded, %s now", address_format (&r->address, a),
                                    address_format (&n->address, b));
          return FALSE;
        }
      if (r->vendor_id != n->vendor_id || r->device_id != n->device_id ||
          r->subsystem_vendor_id != n->subsystem_vendor_id ||
          r->subsystem_device_id != n->subsystem_device_id)
        {
          if (why)
            *why = g_strdup_printf ("%s: 0x%04x:0x%04x (subsystem 0x%04x:0x%04x) recorded, "
                                    "0x%04x:0x%04x (subsystem 0x%04x:0x%04x) now",
                                    address_format (&r->address, a), r->vendor_id, r->device_id,
                                    r->subsystem_vendor_id, r->subsystem_device_id, n->vendor_id,
                                    n->device_id, n->subsystem_vendor_id, n->subsystem_device_id);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
grant_of_boot (const Grant *grant, const char *boot_id)
{
  return grant->boot_id != NULL && boot_id != NULL && strcmp (grant->boot_id, boot_id) == 0;
}

/* One member as written: "<address> 0xVVVV 0xDDDD 0xSVSV 0xSDSD", the
 * address as the kernel spells it, each id as persist.h's records
 * (exactly four hex digits here: vfiod wrote it). */
static gboolean
member_parse (const char *text, GrantMember *out)
{
  g_auto (GStrv) words = g_strsplit (text, " ", -1);
  uint16_t *ids[] = { &out->vendor_id, &out->device_id, &out->subsystem_vendor_id,
                      &out->subsystem_device_id };
  char name[ADDRESS_STRLEN];

  if (g_strv_length (words) != 5 || !address_parse (words[0], &out->address) ||
      strcmp (address_format (&out->address, name), words[0]) != 0)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      uint32_t v;
      if (strlen (words[i + 1]) != 6 || !hexnum_parse_prefixed (words[i + 1], 4, 4, &v))
        return FALSE;
      *ids[i] = (uint16_t) v;
    }
  return TRUE;
}

/* "m1;m2;...": not empty, at most GRANT_MAX_MEMBERS, by address without
 * repeats (as written).  NULL when anything is off. */
static GArray *
members_parse (const char *text)
{
  g_auto (GStrv) items = g_strsplit (text, ";", -1);
  g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (GrantMember));
  guint n = g_strv_length (items);

  if (n == 0 || n > GRANT_MAX_MEMBERS)
    return NULL;
  for (guint i = 0; i < n; i++)
    {
      GrantMember m = { 0 };
      if (!member_parse (items[i], &m))
        return NULL;
      if (i > 0 &&
          address_compare (&g_array_index (out, GrantMember, i - 1).address, &m.address) >= 0)
        return NULL;
      g_array_append_val (out, m);
    }
  return g_steal_pointer (&out);
}

static char *
members_format (GArray *members)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < members->len; i++)
    {
      const GrantMember *m = &g_array_index (members, GrantMember, i);
      char name[ADDRESS_STRLEN];
      g_string_append_printf (s, "%s%s 0x%04x 0x%04x 0x%04x 0x%04x", i ? ";" : "",
                              address_format (&m->address, name), m->vendor_id, m->device_id,
                              m->subsystem_vendor_id, m->subsystem_device_id);
    }
  return g_string_free (s, FALSE);
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
      g_autofree char *boot_id = g_key_file_get_string (kf, *s, "boot_id", NULL);
      g_autofree char *members_text = g_key_file_get_string (kf, *s, "members", NULL);
      g_autoptr (GArray) members = members_text ? members_parse (members_text) : NULL;
      Grant *grant;
      guint64 g, u;

      if (!g_str_has_prefix (*s, "grant ") || path == NULL || group == NULL || uid == NULL ||
          !g_ascii_string_to_unsigned (group, 10, 0, G_MAXUINT32, &g, NULL) ||
          /* (uid_t) -1 is "no user" */
          !g_ascii_string_to_unsigned (uid, 10, 0, G_MAXUINT32 - 1, &u, NULL) ||
          !node_path_valid (path, (uint32_t) g) || (revoking && strcmp (revoking, "true") != 0) ||
          /* both or, in a record of an older vfiod, neither */
          (boot_id == NULL) != (members_text == NULL) || (boot_id && !boot_id_valid (boot_id)) ||
          (members_text && members == NULL))
        {
          g_autofree char *shown = g_strescape (*s, NULL);
          g_warning ("Ignoring a malformed entry of the grants record: [%s]", shown);
          continue;
        }
      grant = grant_new (path, (uint32_t) g, (uid_t) u, revoking != NULL);
      grant->boot_id = g_steal_pointer (&boot_id);
      grant->members = g_steal_pointer (&members);
      g_ptr_array_add (out, grant);
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
      if (g->boot_id && g->members)
        {
          g_autofree char *members = members_format (g->members);
          g_key_file_set_string (kf, section, "boot_id", g->boot_id);
          g_key_file_set_string (kf, section, "members", members);
        }
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
      g_ptr_array_add (out, grant_copy (g));
    }
  return out;
}

gboolean
grants_add (Grants *self, const char *path, uint32_t group, uid_t uid, const char *boot_id,
            GArray *members, GError **error)
{
  GPtrArray *next;
  Grant *grant;
  gboolean ok;

  g_return_val_if_fail (node_path_valid (path, group), FALSE);
  g_return_val_if_fail (boot_id_valid (boot_id), FALSE);
  g_return_val_if_fail (members && members->len > 0 && members->len <= GRANT_MAX_MEMBERS, FALSE);
  grant = grant_new (path, group, uid, false);
  grant->boot_id = g_strdup (boot_id);
  grant->members = members_copy (members);
  g_array_sort (grant->members, member_compare);
  g_mutex_lock (&self->lock);
  next = copy_where (self->grants, path, uid, -1);
  g_ptr_array_add (next, grant);
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
          Grant *marked = grant_copy (g);
          marked->revoking = true;
          g_ptr_array_add (next, marked);
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
