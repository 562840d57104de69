/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* view.c: object paths, groups made of devices, and what a subscriber is
 * told when a reading differs from the last one. */
#include <glib.h>
#include <string.h>

#include "group.h"
#include "view.h"
#include "names.h"

static Device *
dev (const char *name, int64_t group, const char *driver, uint32_t class_code, const char *in_use)
{
  PciAddress a;
  Device *d;

  g_assert_true (address_parse (name, &a));
  d = device_new (&a);
  d->group = group;
  d->driver = g_strdup (driver);
  d->class_code = class_code;
  d->vendor = "Intel";
  d->model = "Thing";
  d->in_use = g_strdup (in_use);
  return d;
}

/* Group 5: a root port, a NIC, a SATA controller the host uses; group 2
 * alone; a device without a group. */
static GPtrArray *
machine (const char *nic_driver, const char *sata_in_use)
{
  GPtrArray *d = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);

  g_ptr_array_add (d, dev ("0000:02:00.0", 5, nic_driver, 0x020000, NULL));
  g_ptr_array_add (d, dev ("0000:00:1c.0", 5, "pcieport", 0x060400, NULL));
  g_ptr_array_add (d, dev ("0000:00:17.0", 5, "ahci", 0x010601, sata_in_use));
  g_ptr_array_add (d, dev ("0000:00:02.0", 2, "i915", 0x030000, "boot display"));
  g_ptr_array_add (d, dev ("0000:00:00.0", DEVICE_NO_GROUP, NULL, 0x060000, NULL));
  return d;
}

static void
test_paths (void)
{
  char name[ADDRESS_STRLEN];
  g_autofree char *p = view_device_path ("0000:03:00.0");
  g_autofree char *wide = view_device_path ("10000:e1:1f.7");
  g_autofree char *g = view_group_path (12);
  uint32_t n;
  static const char *const bad_devices[] = {
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00_8",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_0A_00_0",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/03_00_0",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00_0_",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00_0/x",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/",
    VFIOD_DBUS_DEVICE_PATH_PREFIX,
    VFIOD_DBUS_GROUP_PATH_PREFIX "/1",
    VFIOD_DBUS_DEVICE_PATH_PREFIX "/00000000000000000_03_00_0",
  };
  static const char *const bad_groups[] = {
    VFIOD_DBUS_GROUP_PATH_PREFIX "/012", VFIOD_DBUS_GROUP_PATH_PREFIX "/",
    VFIOD_DBUS_GROUP_PATH_PREFIX "/x",   VFIOD_DBUS_GROUP_PATH_PREFIX "/4294967296",
    VFIOD_DBUS_GROUP_PATH_PREFIX "/1/2", VFIOD_DBUS_DEVICE_PATH_PREFIX "/1",
  };

  g_assert_cmpstr (p, ==, "/org/freedesktop/vfio1/device/0000_03_00_0");
  g_assert_true (view_device_name_from_path (p, name));
  g_assert_cmpstr (name, ==, "0000:03:00.0");
  g_assert_cmpstr (wide, ==, "/org/freedesktop/vfio1/device/10000_e1_1f_7");
  g_assert_true (view_device_name_from_path (wide, name));
  g_assert_cmpstr (name, ==, "10000:e1:1f.7");
  for (gsize i = 0; i < G_N_ELEMENTS (bad_devices); i++)
    g_assert_false (view_device_name_from_path (bad_devices[i], name));

  g_assert_cmpstr (g, ==, "/org/freedesktop/vfio1/group/12");
  g_assert_true (view_group_number_from_path (g, &n));
  g_assert_cmpuint (n, ==, 12);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_groups); i++)
    g_assert_false (view_group_number_from_path (bad_groups[i], &n));
}

static void
test_groups (void)
{
  g_autoptr (View) v = view_new (machine ("e1000e", "mounted: / (sda2)"));
  ViewGroup *g5 = view_group (v, 5);

  g_assert_nonnull (g5);
  g_assert_cmpuint (g5->members->len, ==, 3);
  /* sorted by address */
  g_assert_cmpstr (((Device *) g_ptr_array_index (g5->members, 0))->name, ==, "0000:00:17.0");
  g_assert_cmpstr (((Device *) g_ptr_array_index (g5->members, 2))->name, ==, "0000:02:00.0");
  g_assert_false (g5->viable);
  g_assert_cmpstr (g5->in_use, ==, "mounted: / (sda2)");
  g_assert_cmpstr (view_group (v, 2)->in_use, ==, "boot display");
  g_assert_null (view_group (v, 7));
  /* a device without a group is a device, not a group */
  g_assert_nonnull (view_device (v, "0000:00:00.0"));
  g_assert_cmpuint (g_hash_table_size (v->groups), ==, 2);
}

static void
test_viable (void)
{
  g_autoptr (GPtrArray) d = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);

  g_assert_false (group_viable (d)); /* empty: nothing to use */
  g_ptr_array_add (d, dev ("0000:00:1c.0", 5, "pcieport", 0x060400, NULL));
  g_ptr_array_add (d, dev ("0000:02:00.0", 5, "vfio-pci", 0x020000, NULL));
  g_ptr_array_add (d, dev ("0000:02:00.1", 5, NULL, 0x020000, NULL));
  g_ptr_array_add (d, dev ("0000:02:00.2", 5, "pci-stub", 0x020000, NULL));
  g_assert_true (group_viable (d));
  g_ptr_array_add (d, dev ("0000:02:00.3", 5, "e1000e", 0x020000, NULL));
  g_assert_false (group_viable (d));
}

static const ViewChange *
find (GPtrArray *changes, const char *path)
{
  for (guint i = 0; i < changes->len; i++)
    if (strcmp (((ViewChange *) g_ptr_array_index (changes, i))->path, path) == 0)
      return g_ptr_array_index (changes, i);
  return NULL;
}

static void
test_diff_same (void)
{
  g_autoptr (View) a = view_new (machine ("e1000e", NULL));
  g_autoptr (View) b = view_new (machine ("e1000e", NULL));
  g_autoptr (GPtrArray) changes = view_diff (a, b);

  g_assert_cmpuint (changes->len, ==, 0);
}

/* The NIC and SATA leave the host: one change per object, listing every
 * property that changed, and the group's. */
static void
test_diff_changes (void)
{
  g_autoptr (View) a = view_new (machine ("e1000e", "mounted: / (sda2)"));
  GPtrArray *after = machine ("vfio-pci", NULL);
  g_autoptr (View) b = NULL;
  g_autoptr (GPtrArray) changes = NULL;
  const ViewChange *c;
  const char *const nic[] = { VFIOD_PROP_DRIVER, VFIOD_PROP_STATE, NULL };
  const char *const sata[] = { VFIOD_PROP_DRIVER, VFIOD_PROP_STATE, VFIOD_PROP_IN_USE, NULL };
  const char *const group[] = { VFIOD_PROP_VIABLE, VFIOD_PROP_IN_USE, NULL };

  /* SATA goes to vfio-pci too */
  g_free (((Device *) g_ptr_array_index (after, 2))->driver);
  ((Device *) g_ptr_array_index (after, 2))->driver = g_strdup ("vfio-pci");
  b = view_new (after);
  changes = view_diff (a, b);
  g_assert_cmpuint (changes->len, ==, 3);

  c = find (changes, "/org/freedesktop/vfio1/device/0000_02_00_0");
  g_assert_nonnull (c);
  g_assert_cmpint (c->kind, ==, VIEW_CHANGED);
  g_assert_cmpstr (c->interface, ==, VFIOD_DBUS_DEVICE_INTERFACE);
  g_assert_true (g_strv_equal ((const char *const *) c->properties, nic));
  c = find (changes, "/org/freedesktop/vfio1/device/0000_00_17_0");
  g_assert_true (g_strv_equal ((const char *const *) c->properties, sata));
  c = find (changes, "/org/freedesktop/vfio1/group/5");
  g_assert_cmpstr (c->interface, ==, VFIOD_DBUS_GROUP_INTERFACE);
  g_assert_true (g_strv_equal ((const char *const *) c->properties, group));
}

/* Hot removal of the NIC, then of group 2's only device; a new device
 * in a new group: removals first, groups added before their devices. */
static void
test_diff_hotplug (void)
{
  g_autoptr (View) a = view_new (machine ("e1000e", NULL));
  GPtrArray *after = machine ("e1000e", NULL);
  g_autoptr (View) b = NULL;
  g_autoptr (GPtrArray) changes = NULL;
  const ViewChange *c;
  const char *const members[] = { VFIOD_PROP_DEVICES, VFIOD_PROP_EXPLANATION, NULL };

  g_ptr_array_remove_index (after, 0); /* the NIC */
  g_ptr_array_remove_index (after, 2); /* the GPU, alone in group 2 */
  g_ptr_array_add (after, dev ("0000:05:00.0", 9, "nvme", 0x010802, NULL));
  b = view_new (after);
  changes = view_diff (a, b);

  g_assert_cmpuint (changes->len, ==, 6);
#define AT(i) ((const ViewChange *) g_ptr_array_index (changes, i))
  g_assert_cmpint (AT (0)->kind, ==, VIEW_REMOVED);
  g_assert_cmpstr (AT (0)->path, ==, "/org/freedesktop/vfio1/device/0000_00_02_0");
  g_assert_cmpint (AT (1)->kind, ==, VIEW_REMOVED);
  g_assert_cmpstr (AT (1)->path, ==, "/org/freedesktop/vfio1/device/0000_02_00_0");
  g_assert_cmpint (AT (2)->kind, ==, VIEW_REMOVED);
  g_assert_cmpstr (AT (2)->path, ==, "/org/freedesktop/vfio1/group/2");
  g_assert_cmpint (AT (3)->kind, ==, VIEW_ADDED);
  g_assert_cmpstr (AT (3)->path, ==, "/org/freedesktop/vfio1/group/9");
  g_assert_cmpint (AT (4)->kind, ==, VIEW_ADDED);
  g_assert_cmpstr (AT (4)->path, ==, "/org/freedesktop/vfio1/device/0000_05_00_0");
#undef AT
  c = find (changes, "/org/freedesktop/vfio1/group/5");
  g_assert_cmpint (c->kind, ==, VIEW_CHANGED);
  /* its members, and the sentence that names them */
  g_assert_true (g_strv_equal ((const char *const *) c->properties, members));
}

/* From nothing (a daemon that could not read the machine at start) to a
 * reading: everything is added. */
static void
test_diff_from_empty (void)
{
  g_autoptr (View) a = view_new_empty ();
  g_autoptr (View) b = view_new (machine ("e1000e", NULL));
  g_autoptr (GPtrArray) changes = view_diff (a, b);

  g_assert_cmpuint (changes->len, ==, 5 + 2);
  for (guint i = 0; i < changes->len; i++)
    g_assert_cmpint (((ViewChange *) g_ptr_array_index (changes, i))->kind, ==, VIEW_ADDED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/view/paths", test_paths);
  g_test_add_func ("/view/groups", test_groups);
  g_test_add_func ("/view/viable", test_viable);
  g_test_add_func ("/view/diff-same", test_diff_same);
  g_test_add_func ("/view/diff-changes", test_diff_changes);
  g_test_add_func ("/view/diff-hotplug", test_diff_hotplug);
  g_test_add_func ("/view/diff-from-empty", test_diff_from_empty);
  return g_test_run ();
}
