/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parts of sysfs.c and monitor.c that need no /sys: reading an
 * attribute of exactly the buffer's size, and the cache of what never
 * changes across hotplug (invalidation during a read, ENOBUFS). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "monitor.h"
#include "sysfs.h"

static int
temp_dir (char **path)
{
  g_autoptr (GError) error = NULL;
  int fd;

  *path = g_dir_make_tmp ("vfiod-test-sysfs-XXXXXX", &error);
  g_assert_no_error (error);
  fd = open (*path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  return fd;
}

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
test_read_attr_sizes (void)
{
  g_autofree char *dir = NULL;
  int dfd = temp_dir (&dir);
  char buf[8];

  write_file (dir, "short", "abc\n");
  write_file (dir, "exact", "abcdef\n"); /* 7 bytes: size - 1, fits */
  write_file (dir, "over", "abcdefg\n"); /* 8 bytes: does not */
  write_file (dir, "empty", "");

  g_assert_cmpint (sysfs_read_attr (dfd, "short", buf, sizeof buf), ==, 4);
  g_assert_cmpstr (buf, ==, "abc\n");
  g_assert_cmpint (sysfs_read_attr (dfd, "exact", buf, sizeof buf), ==, 7);
  g_assert_cmpstr (buf, ==, "abcdef\n");
  g_assert_cmpint (sysfs_read_attr (dfd, "over", buf, sizeof buf), ==, -EFBIG);
  g_assert_cmpint (sysfs_read_attr (dfd, "empty", buf, sizeof buf), ==, 0);
  g_assert_cmpstr (buf, ==, "");
  g_assert_cmpint (sysfs_read_attr (dfd, "missing", buf, sizeof buf), ==, -ENOENT);
  g_assert_cmpint (sysfs_read_attr (dfd, ".", buf, sizeof buf), ==, -EISDIR);

  for (const char *const *n = (const char *const[]){ "short", "exact", "over", "empty", NULL }; *n;
       n++)
    g_assert_cmpint (unlinkat (dfd, *n, 0), ==, 0);
  close (dfd);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static Device *
device_at (const char *address)
{
  PciAddress a;

  g_assert_true (address_parse (address, &a));
  return device_new (&a);
}

static Device *
read_facts (const char *address, const char *syspath, uint32_t class_code)
{
  Device *d = device_at (address);

  d->syspath = g_strdup (syspath);
  d->class_code = class_code;
  d->group = 5;
  return d;
}

/* A hotplug (invalidation) while a device is being read: what was read
 * may be of the device that went away; it must not be kept. */
static void
test_facts_store_after_invalidation (void)
{
  g_autoptr (Device) old =
      read_facts ("0000:02:00.0", "/sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0", 0x020000);
  g_autoptr (Device) lookup = device_at ("0000:02:00.0");
  g_autoptr (SysfsCache) cache = sysfs_cache_new ();
  guint generation;

  sysfs_cache_enable (cache, TRUE);

  /* no hotplug: kept */
  generation = sysfs_facts_generation (cache);
  sysfs_facts_store (cache, old, generation);
  g_assert_true (sysfs_facts_lookup (cache, lookup));
  g_assert_cmphex (lookup->class_code, ==, 0x020000);

  /* the reader began, then the kernel said the device went (and another
   * came at the same address): the late store of the old facts is dropped */
  sysfs_cache_invalidate (cache, TRUE, FALSE);
  generation = sysfs_facts_generation (cache);
  sysfs_cache_invalidate (cache, TRUE, FALSE);
  sysfs_facts_store (cache, old, generation);
  g_assert_false (sysfs_facts_lookup (cache, lookup));

  /* children-only invalidation (a block device came) keeps devices valid */
  generation = sysfs_facts_generation (cache);
  sysfs_cache_invalidate (cache, FALSE, TRUE);
  sysfs_facts_store (cache, old, generation);
  g_assert_true (sysfs_facts_lookup (cache, lookup));

  /* not kept at all while nobody reports hotplug */
  sysfs_cache_enable (cache, FALSE);
  generation = sysfs_facts_generation (cache);
  sysfs_facts_store (cache, old, generation);
  g_assert_false (sysfs_facts_lookup (cache, lookup));
}

/* A hotplug of one device forgets that device only, and a read that
 * began before it keeps nothing. */
static void
test_cache_forget (void)
{
  g_autoptr (SysfsCache) cache = sysfs_cache_new ();
  g_autoptr (Device) a =
      read_facts ("0000:02:00.0", "/sys/devices/pci0000:00/0000:02:00.0", 0x020000);
  g_autoptr (Device) b =
      read_facts ("0000:03:00.0", "/sys/devices/pci0000:00/0000:03:00.0", 0x010802);
  g_autoptr (Device) lookup_a = device_at ("0000:02:00.0");
  g_autoptr (Device) lookup_b = device_at ("0000:03:00.0");
  guint generation;

  sysfs_cache_enable (cache, TRUE);
  sysfs_facts_store (cache, a, sysfs_facts_generation (cache));
  generation = sysfs_facts_generation (cache);
  sysfs_cache_forget (cache, "0000:02:00.0");
  g_assert_false (sysfs_facts_lookup (cache, lookup_a));
  /* b was being read while a went: not kept */
  sysfs_facts_store (cache, b, generation);
  g_assert_false (sysfs_facts_lookup (cache, lookup_b));
  sysfs_facts_store (cache, b, sysfs_facts_generation (cache));
  g_assert_true (sysfs_facts_lookup (cache, lookup_b));
}

/* The udev socket overflowed: events were lost, so everything kept goes. */
static void
test_monitor_enobufs (void)
{
  g_assert_false (monitor_events_lost (EAGAIN)); /* nothing more to read: keeps */
  g_assert_false (monitor_events_lost (0));
  g_assert_true (monitor_events_lost (EBADMSG));
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*overflowed*");
  g_assert_true (monitor_events_lost (ENOBUFS));
  g_test_assert_expected_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sysfs/read-attr-sizes", test_read_attr_sizes);
  g_test_add_func ("/sysfs/facts-store-after-invalidation", test_facts_store_after_invalidation);
  g_test_add_func ("/sysfs/cache-forget", test_cache_forget);
  g_test_add_func ("/sysfs/monitor-enobufs", test_monitor_enobufs);
  return g_test_run ();
}
