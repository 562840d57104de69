/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "hwdb.h"

#include <libudev.h>
#include <stdio.h>
#include <string.h>

struct Hwdb {
  struct udev *udev;
  struct udev_hwdb *hwdb; /* mapped only while names are being looked up */
  gboolean warned;
  GMutex lock;
  GHashTable *cache;     /* ids (guint64) → const char *[2] {vendor, model} */
  GStringChunk *strings; /* interned names */
};

Hwdb *
hwdb_new (void)
{
  Hwdb *self = g_new0 (Hwdb, 1);

  g_mutex_init (&self->lock);
  self->cache = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  self->strings = g_string_chunk_new (4096);
  self->udev = udev_new ();
  return self;
}

void
hwdb_free (Hwdb *self)
{
  if (self == NULL)
    return;
  if (self->hwdb)
    udev_hwdb_unref (self->hwdb);
  if (self->udev)
    udev_unref (self->udev);
  g_hash_table_unref (self->cache);
  g_string_chunk_free (self->strings);
  g_mutex_clear (&self->lock);
  g_free (self);
}

static const char **
lookup_uncached (Hwdb *self, const Device *device)
{
  const char **names = g_new0 (const char *, 2);
  struct udev_list_entry *entry;
  char modalias[64];

  names[0] = names[1] = "";
  if (self->hwdb == NULL && self->udev)
    self->hwdb = udev_hwdb_new (self->udev);
  if (self->hwdb == NULL)
    {
      if (!self->warned)
        g_warning ("The udev hardware database is not available: devices will have no names");
      self->warned = TRUE;
      return names;
    }

  /* The most specific key: entries for the subsystem ids, when the hwdb
   * has them, name the product better than the chip. */
  snprintf (modalias, sizeof modalias, "pci:v%08Xd%08Xsv%08Xsd%08X", device->vendor_id,
            device->device_id, device->subsystem_vendor_id, device->subsystem_device_id);

  udev_list_entry_foreach (entry, udev_hwdb_get_properties_list_entry (self->hwdb, modalias, 0))
  {
    const char *key = udev_list_entry_get_name (entry);
    const char *value = udev_list_entry_get_value (entry);

    if (value == NULL || !g_utf8_validate (value, -1, NULL))
      continue;
    if (strcmp (key, "ID_VENDOR_FROM_DATABASE") == 0)
      names[0] = g_string_chunk_insert_const (self->strings, value);
    else if (strcmp (key, "ID_MODEL_FROM_DATABASE") == 0)
      names[1] = g_string_chunk_insert_const (self->strings, value);
  }
  return names;
}

void
hwdb_release (Hwdb *self)
{
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->hwdb, udev_hwdb_unref);
  g_mutex_unlock (&self->lock);
}

void
hwdb_lookup (Hwdb *self, Device *device)
{
  guint64 key = (guint64) device->vendor_id << 48 | (guint64) device->device_id << 32 |
                (guint64) device->subsystem_vendor_id << 16 | device->subsystem_device_id;
  const char **names;

  g_mutex_lock (&self->lock);
  names = g_hash_table_lookup (self->cache, &key);
  if (names == NULL)
    {
      names = lookup_uncached (self, device);
      g_hash_table_insert (self->cache, g_memdup2 (&key, sizeof key), names);
    }
  device->vendor = names[0];
  device->model = names[1];
  g_mutex_unlock (&self->lock);
}
