/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "view.h"

#include <string.h>

#include "fields.h"
#include "group.h"
#include "names.h"

static void
view_group_free (ViewGroup *g)
{
  g_ptr_array_unref (g->members);
  group_cause_free (g->cause);
  g_free (g);
}

View *
view_new_empty (void)
{
  return view_new (g_ptr_array_new_with_free_func ((GDestroyNotify) device_free));
}

View *
view_new (GPtrArray *devices)
{
  View *self = g_new0 (View, 1);

  self->ref_count = 1;
  self->devices = devices;
  g_ptr_array_sort (devices, device_compare_by_address);
  self->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  self->groups = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) view_group_free);
  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      ViewGroup *g;

      g_hash_table_insert (self->by_name, d->name, d);
      if (d->group == DEVICE_NO_GROUP)
        continue;
      g = g_hash_table_lookup (self->groups, GUINT_TO_POINTER ((guint) d->group));
      if (g == NULL)
        {
          g = g_new0 (ViewGroup, 1);
          g->number = (uint32_t) d->group;
          g->members = g_ptr_array_new ();
          g->in_use = "";
          g_hash_table_insert (self->groups, GUINT_TO_POINTER (g->number), g);
        }
      /* devices are sorted: so are the members, and the first reason is
       * the lowest address's */
      g_ptr_array_add (g->members, d);
      if (*g->in_use == '\0' && d->in_use && *d->in_use)
        g->in_use = d->in_use;
    }

  GHashTableIter iter;
  ViewGroup *g;
  self->isolation = isolation_new (devices);
  g_hash_table_iter_init (&iter, self->groups);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &g))
    {
      const GroupCause *cause = isolation_group (self->isolation, g->number);
      g->viable = group_viable (g->members);
      g->cause = g_new0 (GroupCause, 1);
      g->cause->group = g->number;
      g->cause->cause = cause ? cause->cause : VFIOD_CAUSE_UNKNOWN;
      g->cause->cause_device = g_strdup (cause ? cause->cause_device : "");
      g->cause->explanation = g_strdup (cause ? cause->explanation : "");
    }
  return self;
}

View *
view_ref (View *self)
{
  g_atomic_int_inc (&self->ref_count);
  return self;
}

void
view_free (View *self)
{
  if (self == NULL || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  /* it borrows the devices */
  isolation_free (self->isolation);
  g_hash_table_unref (self->groups);
  g_hash_table_unref (self->by_name);
  g_ptr_array_unref (self->devices);
  g_free (self);
}

Device *
view_device (const View *self, const char *name)
{
  return g_hash_table_lookup (self->by_name, name);
}

ViewGroup *
view_group (const View *self, uint32_t number)
{
  return g_hash_table_lookup (self->groups, GUINT_TO_POINTER (number));
}

/* ---- paths ------------------------------------------------------------ */

char *
view_device_path (const char *name)
{
  char *path = g_strconcat (VFIOD_DBUS_DEVICE_PATH_PREFIX "/", name, NULL);

  for (char *p = path + strlen (VFIOD_DBUS_DEVICE_PATH_PREFIX "/"); *p; p++)
    if (*p == ':' || *p == '.')
      *p = '_';
  return path;
}

char *
view_group_path (uint32_t number)
{
  return g_strdup_printf (VFIOD_DBUS_GROUP_PATH_PREFIX "/%u", number);
}

bool
view_device_name_from_path (const char *path, char name[ADDRESS_STRLEN])
{
  PciAddress address;
  g_autofree char *text = NULL, *again = NULL;
  char *last;
  guint underscores = 0;

  if (!g_str_has_prefix (path, VFIOD_DBUS_DEVICE_PATH_PREFIX "/"))
    return false;
  text = g_strdup (path + strlen (VFIOD_DBUS_DEVICE_PATH_PREFIX "/"));
  if (strlen (text) >= ADDRESS_STRLEN)
    return false;
  /* domain_bus_slot_function: put the separators back */
  for (char *p = text; *p; p++)
    if (*p == '_')
      {
        *p = ':';
        underscores++;
      }
  last = strrchr (text, ':');
  if (underscores != 3 || last == NULL)
    return false;
  *last = '.';
  if (!address_parse (text, &address))
    return false;
  address_format (&address, name);
  /* only the kernel's own spelling names an object */
  again = view_device_path (name);
  return strcmp (again, path) == 0;
}

bool
view_group_number_from_path (const char *path, uint32_t *number)
{
  guint64 n;
  g_autofree char *again = NULL;

  if (!g_str_has_prefix (path, VFIOD_DBUS_GROUP_PATH_PREFIX "/"))
    return false;
  if (!g_ascii_string_to_unsigned (path + strlen (VFIOD_DBUS_GROUP_PATH_PREFIX "/"), 10, 0,
                                   G_MAXUINT32, &n, NULL))
    return false;
  again = view_group_path ((uint32_t) n);
  if (strcmp (again, path) != 0)
    return false;
  *number = (uint32_t) n;
  return true;
}

/* ---- what changed ------------------------------------------------------ */

void
view_change_free (ViewChange *c)
{
  g_free (c->path);
  g_strfreev (c->properties);
  g_free (c);
}

static void
add_change (GPtrArray *out, ViewChangeKind kind, char *path /* owned */, const char *interface,
            GPtrArray *properties /* owned, or NULL */)
{
  ViewChange *c = g_new0 (ViewChange, 1);

  c->kind = kind;
  c->path = path;
  c->interface = interface;
  if (properties)
    {
      g_ptr_array_add (properties, NULL);
      c->properties = (GStrv) g_ptr_array_free (properties, FALSE);
    }
  g_ptr_array_add (out, c);
}

/* The properties of the rows (fields.h) whose value differs. */
static GPtrArray *
device_changes (const Device *a, const Device *b)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    {
      const DeviceField *f = &fields_device[i];
      if (f->property && f->differ && f->differ (a, b))
        g_ptr_array_add (names, g_strdup (f->property));
    }
  return names;
}

static GPtrArray *
group_changes (const ViewGroup *a, const ViewGroup *b)
{
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);

  for (gsize i = 0; i < G_N_ELEMENTS (fields_group); i++)
    {
      const GroupField *f = &fields_group[i];
      if (f->property && f->differ && f->differ (a, b))
        g_ptr_array_add (names, g_strdup (f->property));
    }
  return names;
}

static gint
compare_numbers (gconstpointer a, gconstpointer b)
{
  guint x = GPOINTER_TO_UINT (*(gconstpointer *) a), y = GPOINTER_TO_UINT (*(gconstpointer *) b);

  return x < y ? -1 : x > y;
}

/* The group numbers of @view, sorted (stable output for tests and
 * subscribers). */
static GPtrArray *
sorted_groups (const View *view)
{
  GPtrArray *numbers = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, view->groups);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (numbers, key);

  g_ptr_array_sort (numbers, compare_numbers);
  return numbers;
}

GPtrArray *
view_diff (const View *old, const View *new)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) view_change_free);
  g_autoptr (GPtrArray) old_groups = sorted_groups (old);
  g_autoptr (GPtrArray) new_groups = sorted_groups (new);

  /* gone: devices, then the groups they left */
  for (guint i = 0; i < old->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (old->devices, i);
      if (!view_device (new, d->name))
        add_change (out, VIEW_REMOVED, view_device_path (d->name), VFIOD_DBUS_DEVICE_INTERFACE,
                    NULL);
    }
  for (guint i = 0; i < old_groups->len; i++)
    {
      guint n = GPOINTER_TO_UINT (g_ptr_array_index (old_groups, i));
      if (!view_group (new, n))
        add_change (out, VIEW_REMOVED, view_group_path (n), VFIOD_DBUS_GROUP_INTERFACE, NULL);
    }

  /* come: groups first, so a new device's Group names an object */
  for (guint i = 0; i < new_groups->len; i++)
    {
      guint n = GPOINTER_TO_UINT (g_ptr_array_index (new_groups, i));
      if (!view_group (old, n))
        add_change (out, VIEW_ADDED, view_group_path (n), VFIOD_DBUS_GROUP_INTERFACE, NULL);
    }
  for (guint i = 0; i < new->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (new->devices, i);
      if (!view_device (old, d->name))
        add_change (out, VIEW_ADDED, view_device_path (d->name), VFIOD_DBUS_DEVICE_INTERFACE, NULL);
    }

  /* changed */
  for (guint i = 0; i < new->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (new->devices, i);
      const Device *before = view_device (old, d->name);
      GPtrArray *names;

      if (before == NULL)
        continue;
      names = device_changes (before, d);
      if (names->len)
        add_change (out, VIEW_CHANGED, view_device_path (d->name), VFIOD_DBUS_DEVICE_INTERFACE,
                    names);
      else
        g_ptr_array_unref (names);
    }
  for (guint i = 0; i < new_groups->len; i++)
    {
      guint n = GPOINTER_TO_UINT (g_ptr_array_index (new_groups, i));
      const ViewGroup *before = view_group (old, n);
      GPtrArray *names;

      if (before == NULL)
        continue;
      names = group_changes (before, view_group (new, n));
      if (names->len)
        add_change (out, VIEW_CHANGED, view_group_path (n), VFIOD_DBUS_GROUP_INTERFACE, names);
      else
        g_ptr_array_unref (names);
    }
  return out;
}
