/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* records.c: persistent assignments on disk, in a temporary directory:
 * written and read back, up to date or not, removed (twice is fine),
 * names that are not records ignored, and the check against the device
 * now at the address. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "records.h"
#include "names.h"

static void
put (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static Device *
make_device (const char *address, uint16_t vendor, uint16_t device)
{
  PciAddress a;
  Device *d;

  g_assert_true (address_parse (address, &a));
  d = device_new (&a);
  d->vendor_id = vendor;
  d->device_id = device;
  d->subsystem_vendor_id = 0x8086;
  d->subsystem_device_id = 0xa01f;
  d->class_code = 0x020000;
  return d;
}

static void
test_write_read_remove (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("vfiod-records-XXXXXX", NULL);
  g_autofree char *dir = g_build_filename (tmp, "persistent", NULL);
  g_autoptr (Records) records = records_new (dir);
  g_autoptr (GPtrArray) group = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (RecordEntry) e = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *check = NULL;
  Device *nic, *port;

  port = make_device ("0000:00:1c.0", 0x8086, 0xa290);
  nic = make_device ("0000:02:00.0", 0x8086, 0x10d3);
  g_ptr_array_add (group, nic);
  g_ptr_array_add (group, port);

  g_assert_false (records_up_to_date (records, nic, group));
  g_assert_null (records_lookup (records, nic->name));
  g_assert_true (records_write (records, nic, group, &error));
  g_assert_no_error (error);
  g_assert_true (records_up_to_date (records, nic, group));

  e = records_lookup (records, nic->name);
  g_assert_nonnull (e);
  g_assert_nonnull (e->record);
  g_assert_cmpuint (e->record->n_members, ==, 2);
  /* members sorted, whatever order the group came in */
  g_assert_true (address_equal (&e->record->members[0], &port->address));
  check = records_check (e, nic);
  g_assert_cmpstr (check, ==, VFIOD_PERSISTENT_ACTIVE);
  g_clear_pointer (&check, g_free);
  check = records_check (e, NULL);
  g_assert_cmpstr (check, ==, VFIOD_PERSISTENT_MISMATCH "no PCI device at 0000:02:00.0");
  g_clear_pointer (&check, g_free);

  /* another card in the slot */
  nic->device_id = 0x8168;
  nic->vendor_id = 0x10ec;
  g_assert_false (records_up_to_date (records, nic, group));
  check = records_check (e, nic);
  g_assert_true (g_str_has_prefix (check, VFIOD_PERSISTENT_MISMATCH "8086:10d3"));
  g_assert_nonnull (strstr (check, "10ec:8168"));
  records_annotate (records, group);
  g_assert_cmpstr (nic->persistent, ==, check);
  g_assert_null (port->persistent);

  /* a group of a different make-up is not up to date either */
  nic->vendor_id = 0x8086;
  nic->device_id = 0x10d3;
  g_ptr_array_remove (group, port);
  g_assert_false (records_up_to_date (records, nic, group));

  /* not records: other names, other spellings */
  put (dir, "README", "x\n");
  put (dir, "0000:02:00.00.conf", "x\n");
  put (dir, "02:00.0.conf", "x\n");
  put (dir, "0000:02:00.0.conf~", "x\n");
  list = records_list (records);
  g_assert_cmpuint (list->len, ==, 1);

  g_assert_true (records_remove (records, nic->name, &error));
  g_assert_true (records_remove (records, nic->name, &error));
  g_assert_no_error (error);
  g_assert_null (records_lookup (records, nic->name));
}

static void
test_unusable (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vfiod-records-XXXXXX", NULL);
  g_autoptr (Records) records = records_new (dir);
  g_autofree char *path = g_build_filename (dir, "0000:02:00.0.conf", NULL);
  g_autoptr (RecordEntry) e = NULL;
  g_autofree char *check = NULL;

  /* a valid record under another address's name */
  g_assert_true (g_file_set_contents (path,
                                      "address=0000:03:00.0\nvendor=0x8086\ndevice=0x10d3\n"
                                      "subsystem_vendor=0x8086\nsubsystem_device=0xa01f\n"
                                      "class=0x020000\ngroup=0000:03:00.0\n",
                                      -1, NULL));
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  e = records_lookup (records, "0000:02:00.0");
  g_assert_nonnull (e);
  g_assert_null (e->record);
  check = records_check (e, NULL);
  g_assert_cmpstr (check, ==,
                   VFIOD_PERSISTENT_MISMATCH
                   "the record cannot be used: its address is not the one its file name gives");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/records/write-read-remove", test_write_read_remove);
  g_test_add_func ("/records/unusable", test_unusable);
  return g_test_run ();
}
