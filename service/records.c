/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "records.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bootnote.h"
#include "config.h"
#include "names.h"

struct Records {
  char *dir;
  GMutex lock; /* every change of the directory */
};

Records *
records_new (const char *dir)
{
  Records *self = g_new0 (Records, 1);

  self->dir = g_strdup (dir);
  g_mutex_init (&self->lock);
  return self;
}

void
records_free (Records *self)
{
  if (self == NULL)
    return;
  g_mutex_clear (&self->lock);
  g_free (self->dir);
  g_free (self);
}

const char *
records_default_dir (void)
{
  const char *env = g_getenv (VFIOD_ENV_PERSIST_DIR);

  return env && *env ? env : VFIOD_PERSIST_DIR;
}

const char *
records_dir (Records *self)
{
  return self->dir;
}

void
record_entry_free (RecordEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->path);
  g_free (entry->record);
  g_free (entry->error);
  g_free (entry);
}

static char *
record_path (Records *self, const PciAddress *address)
{
  char name[ADDRESS_STRLEN + 5];

  return g_build_filename (self->dir, persist_record_name (address, name), NULL);
}

/* Reads one record file as the boot helper would: a regular file, not a
 * link, of bounded size. */
static RecordEntry *
entry_read (Records *self, const PciAddress *address)
{
  g_autoptr (RecordEntry) e = g_new0 (RecordEntry, 1);
  g_autofree char *text = NULL;
  char why[256];
  struct stat st;
  ssize_t n;
  int fd, r;

  address_format (address, e->address);
  e->path = record_path (self, address);
  fd = open (e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return NULL;
      e->error = g_strdup_printf ("cannot open it: %s", g_strerror (errno));
      return g_steal_pointer (&e);
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    e->error = g_strdup ("not a regular file");
  else if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
    e->error = g_strdup ("writable by others than root: the boot helper ignores it");
  else if (st.st_size > PERSIST_MAX_SIZE)
    e->error = g_strdup_printf ("larger than %d bytes", PERSIST_MAX_SIZE);
  if (e->error)
    {
      close (fd);
      return g_steal_pointer (&e);
    }
  text = g_malloc (PERSIST_MAX_SIZE + 1);
  do
    n = read (fd, text, PERSIST_MAX_SIZE + 1);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n < 0)
    {
      e->error = g_strdup_printf ("cannot read it: %s", g_strerror (errno));
      return g_steal_pointer (&e);
    }
  e->record = g_new0 (PersistRecord, 1);
  r = persist_record_parse (text, (size_t) n, e->record, why, sizeof why);
  if (r == 0 && !address_equal (&e->record->address, address))
    {
      r = -EBADMSG;
      g_strlcpy (why, "its address is not the one its file name gives", sizeof why);
    }
  if (r < 0)
    {
      g_clear_pointer (&e->record, g_free);
      e->error = g_strdup (r == -ENOMEM ? g_strerror (ENOMEM) : why);
    }
  return g_steal_pointer (&e);
}

static int
compare_entries (gconstpointer a, gconstpointer b)
{
  const RecordEntry *x = *(RecordEntry **) a, *y = *(RecordEntry **) b;
  PciAddress ax, ay;

  address_parse (x->address, &ax);
  address_parse (y->address, &ay);
  return address_compare (&ax, &ay);
}

/* "<address>.conf", the address exactly as the kernel spells it. */
static gboolean
name_to_address (const char *name, PciAddress *address)
{
  char spelt[ADDRESS_STRLEN + 5];
  g_autofree char *stem = NULL;

  if (!g_str_has_suffix (name, VFIOD_PERSIST_SUFFIX))
    return FALSE;
  stem = g_strndup (name, strlen (name) - strlen (VFIOD_PERSIST_SUFFIX));
  return address_parse (stem, address) && strcmp (persist_record_name (address, spelt), name) == 0;
}

GPtrArray *
records_list (Records *self)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) record_entry_free);
  g_autoptr (GDir) dir = g_dir_open (self->dir, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    {
      PciAddress address;
      RecordEntry *e;

      if (!name_to_address (name, &address))
        continue;
      e = entry_read (self, &address);
      if (e)
        g_ptr_array_add (out, e);
    }
  g_ptr_array_sort (out, compare_entries);
  return out;
}

RecordEntry *
records_lookup (Records *self, const char *address)
{
  PciAddress a;

  if (!address_parse (address, &a))
    return NULL;
  return entry_read (self, &a);
}

/* persist.c knows no Device (the boot helper links no GLib): the ids
 * cross here, once each way. */
static gboolean
identity_matches (const PersistRecord *r, const Device *device, char *why, size_t why_size)
{
  DeviceIds ids = device_ids (device);

  return persist_identity_matches (r, ids.vendor_id, ids.device_id, ids.subsystem_vendor_id,
                                   ids.subsystem_device_id, ids.class_code, why, why_size);
}

static gboolean
record_fill (PersistRecord *r, const Device *device, GPtrArray *members)
{
  DeviceIds ids = device_ids (device);

  r->address = device->address;
  r->vendor_id = ids.vendor_id;
  r->device_id = ids.device_id;
  r->subsystem_vendor_id = ids.subsystem_vendor_id;
  r->subsystem_device_id = ids.subsystem_device_id;
  r->class_code = ids.class_code;
  r->n_members = 0;
  for (guint i = 0; i < members->len; i++)
    {
      if (r->n_members == PERSIST_MAX_MEMBERS)
        return FALSE;
      r->members[r->n_members++] = ((Device *) g_ptr_array_index (members, i))->address;
    }
  /* as the parser leaves them: sorted */
  for (size_t i = 1; i < r->n_members; i++)
    for (size_t j = i; j > 0 && address_compare (&r->members[j - 1], &r->members[j]) > 0; j--)
      {
        PciAddress t = r->members[j];
        r->members[j] = r->members[j - 1];
        r->members[j - 1] = t;
      }
  return TRUE;
}

gboolean
records_up_to_date (Records *self, const Device *device, GPtrArray *members)
{
  g_autoptr (RecordEntry) e = entry_read (self, &device->address);
  g_autofree PersistRecord *want = g_new0 (PersistRecord, 1);

  if (e == NULL || e->record == NULL || !record_fill (want, device, members))
    return FALSE;
  if (want->n_members != e->record->n_members)
    return FALSE;
  for (size_t i = 0; i < want->n_members; i++)
    if (!address_equal (&want->members[i], &e->record->members[i]))
      return FALSE;
  return identity_matches (e->record, device, NULL, 0);
}

/* The records directory, mode 0755 whatever the umask (the unit's is
 * 0077); one that exists is left as the administrator made it. */
static gboolean
records_make_dir (const char *dir, GError **error)
{
  int e;

  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  if (g_mkdir_with_parents (dir, 0755) == 0 && chmod (dir, 0755) == 0)
    return TRUE;
  e = errno;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
               "Cannot create the records directory %s: %s", dir, g_strerror (e));
  return FALSE;
}

gboolean
records_write (Records *self, const Device *device, GPtrArray *members, GError **error)
{
  g_autofree PersistRecord *r = g_new0 (PersistRecord, 1);
  g_autofree char *path = record_path (self, &device->address);
  char *text;
  gboolean ok;

  if (!record_fill (r, device, members))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                   "Cannot record %s: its IOMMU group has more than %d devices", device->name,
                   PERSIST_MAX_MEMBERS);
      return FALSE;
    }
  text = persist_record_format (r);
  if (text == NULL)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "Cannot record %s: out of memory",
                   device->name);
      return FALSE;
    }
  g_mutex_lock (&self->lock);
  ok = records_make_dir (self->dir, error);
  /* configuration anybody may read; only root writes (the boot helper
   * ignores a record others could have written).  The unit's UMask=0077
   * takes the others' bits from the file g_file_set_contents_full()
   * creates, so the mode is set again once it is in place; a crash in
   * between leaves a record of mode 0600, which the helper reads all the
   * same. */
  if (ok)
    ok = g_file_set_contents_full (
        path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0644, error);
  if (ok && chmod (path, 0644) < 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e),
                   "Cannot make the record %s readable (mode 0644): %s", path, g_strerror (e));
      ok = FALSE;
    }
  g_mutex_unlock (&self->lock);
  free (text);
  return ok;
}

/* After an unlink, the directory itself must reach the disk, or a power
 * cut could bring the record back. */
static int
sync_dir (const char *dir)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r = 0;

  if (fd < 0)
    return -errno;
  if (fsync (fd) < 0)
    r = -errno;
  close (fd);
  return r;
}

gboolean
records_remove (Records *self, const char *address, GError **error)
{
  g_autofree char *path = NULL;
  PciAddress a;
  int r = 0;

  if (!address_parse (address, &a))
    return TRUE;
  path = record_path (self, &a);
  g_mutex_lock (&self->lock);
  if (unlink (path) < 0)
    r = errno == ENOENT ? 1 : -errno;
  if (r == 0)
    r = sync_dir (self->dir);
  g_mutex_unlock (&self->lock);
  if (r < 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (-r),
                   "Cannot remove the persistent assignment of %s (%s): %s", address, path,
                   g_strerror (-r));
      return FALSE;
    }
  return TRUE;
}

char *
records_check (const RecordEntry *e, const Device *device)
{
  char why[256];

  if (e->record == NULL)
    return g_strdup_printf (VFIOD_PERSISTENT_MISMATCH "the record cannot be used: %s", e->error);
  if (device == NULL)
    return g_strdup_printf (VFIOD_PERSISTENT_MISMATCH "no PCI device at %s", e->address);
  if (!identity_matches (e->record, device, why, sizeof why))
    return g_strconcat (VFIOD_PERSISTENT_MISMATCH, why, NULL);
  return g_strdup (VFIOD_PERSISTENT_ACTIVE);
}

/* ---- the boot helper's notes of this boot (bootnote.h) ---------------- */

const char *
records_notes_dir (void)
{
  const char *env = g_getenv (VFIOD_ENV_BOOT_NOTES_DIR);

  return env && *env ? env : VFIOD_BOOT_NOTES_DIR;
}

/* Reads one note as the helper does: root's, only root may write it,
 * not a link, bounded, understood exactly, about its own address.  NULL
 * (@error set, unless it is only absent) otherwise. */
static BootNote *
note_read (int dir, const char *name, char **error)
{
  g_autofree BootNote *note = g_new0 (BootNote, 1);
  char text[BOOT_NOTE_MAX_SIZE + 1], why[256], noted[ADDRESS_STRLEN];
  struct stat st;
  ssize_t n;
  int fd = openat (dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

  if (fd < 0)
    {
      *error = g_strdup_printf ("cannot open it: %s", g_strerror (errno));
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || st.st_uid != 0 ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_size > BOOT_NOTE_MAX_SIZE)
    {
      close (fd);
      *error = g_strdup_printf ("not a regular file of root's that only root may write, of at "
                                "most %d bytes",
                                BOOT_NOTE_MAX_SIZE);
      return NULL;
    }
  do
    n = read (fd, text, sizeof text);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n < 0)
    {
      *error = g_strdup_printf ("cannot read it: %s", g_strerror (errno));
      return NULL;
    }
  if (boot_note_parse (text, (size_t) n, note, why, sizeof why) < 0)
    {
      *error = g_strdup (why);
      return NULL;
    }
  if (strcmp (address_format (&note->address, noted), name) != 0)
    {
      *error = g_strdup_printf ("it is about %s", noted);
      return NULL;
    }
  return g_steal_pointer (&note);
}

GHashTable *
records_read_notes (gboolean warn)
{
  GHashTable *notes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *path = records_notes_dir ();
  struct stat st;
  DIR *dir;
  struct dirent *de;
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    {
      if (errno != ENOENT && warn)
        g_warning ("Cannot read the boot helper's notes in %s: %s", path, g_strerror (errno));
      return notes;
    }
  if (fstat (fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
    {
      if (warn)
        g_warning ("The boot helper's notes in %s are not used: the directory is not root's, or "
                   "others may write it",
                   path);
      close (fd);
      return notes;
    }
  dir = fdopendir (fd);
  if (dir == NULL)
    {
      close (fd);
      return notes;
    }
  while ((de = readdir (dir)) != NULL)
    {
      g_autofree char *error = NULL;
      PciAddress address;
      char spelt[ADDRESS_STRLEN];
      BootNote *note;

      /* only names as the helper writes them; its temporary files start with '.' */
      if (!address_parse (de->d_name, &address) ||
          strcmp (address_format (&address, spelt), de->d_name) != 0)
        continue;
      note = note_read (dirfd (dir), de->d_name, &error);
      if (note)
        g_hash_table_insert (notes, g_strdup (de->d_name), note);
      else if (warn)
        g_warning ("The boot helper's note %s/%s is not used: %s", path, de->d_name, error);
    }
  closedir (dir);
  return notes;
}

void
records_warn_notes (void)
{
  g_autoptr (GHashTable) notes = records_read_notes (TRUE);
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, notes);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const BootNote *note = value;

      if (note->state == BOOT_NOTE_GIVEN_BACK)
        g_warning ("%s was bound to " VFIOD_DRIVER_VFIO_PCI " by the initramfs's stale copy of the "
                   "records and given back to its host driver (%s); run update-initramfs -u / "
                   "dracut -f",
                   (char *) key, note->driver[0] ? note->driver : "none took it");
      else if (note->state == BOOT_NOTE_HELD)
        g_warning ("%s was bound to " VFIOD_DRIVER_VFIO_PCI " by the initramfs's stale copy of the "
                   "records and left there: its group %u was in use when the real root would "
                   "have given it back; vfioctl reattach %s, and run update-initramfs -u / "
                   "dracut -f",
                   (char *) key, (unsigned) note->group, (char *) key);
      else if (note->state == BOOT_NOTE_FAILED)
        g_warning ("%s was bound to " VFIOD_DRIVER_VFIO_PCI " by the initramfs's stale copy of the "
                   "records, and giving it back to its host driver failed (see the kernel log); "
                   "vfioctl reattach %s, and run update-initramfs -u / dracut -f",
                   (char *) key, (char *) key);
    }
}

void
records_annotate (Records *self, GPtrArray *devices)
{
  g_autoptr (GPtrArray) entries = records_list (self);
  g_autoptr (GHashTable) notes = records_read_notes (FALSE);
  g_autoptr (GHashTable) by_name = NULL;

  for (guint i = 0; i < devices->len; i++)
    g_clear_pointer (&((Device *) g_ptr_array_index (devices, i))->persistent, g_free);
  if (entries->len == 0 && g_hash_table_size (notes) == 0)
    return;
  by_name = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      g_hash_table_insert (by_name, d->name, d);
    }
  for (guint i = 0; i < entries->len; i++)
    {
      const RecordEntry *e = g_ptr_array_index (entries, i);
      Device *d = g_hash_table_lookup (by_name, e->address);

      if (d)
        d->persistent = records_check (e, d);
    }
  /* what the real root did with the initramfs's stale bindings, for the
   * rest of the boot; a record that holds now says more */
  {
    GHashTableIter iter;
    gpointer key, value;

    g_hash_table_iter_init (&iter, notes);
    while (g_hash_table_iter_next (&iter, &key, &value))
      {
        Device *d = g_hash_table_lookup (by_name, key);
        char text[128];

        if (d == NULL || g_strcmp0 (d->persistent, VFIOD_PERSISTENT_ACTIVE) == 0 ||
            boot_note_describe (value, text, sizeof text) == NULL)
          continue;
        g_free (d->persistent);
        d->persistent = g_strdup (text);
      }
  }
}
