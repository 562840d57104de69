/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* grants.c: the record of ACL entries vfiod gave, read back as untrusted
 * input: only vfiod's own nodes, well-formed numbers, ever come out. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "access.h"
#include "bootid.h"
#include "device.h"
#include "grants.h"

#define BOOT    "0f4e3b5a-9c1d-4e2f-8a7b-6c5d4e3f2a1b"
#define MEMBERS "0000:03:00.0 0x8086 0x10d3 0x8086 0xa01f;0000:03:00.1 0x8086 0x10d4 0x0000 0x0000"
#define NEW     "boot_id=" BOOT "\nmembers=" MEMBERS "\n"

/* A group's members as sysfs.c reads them */
static GPtrArray *
devices (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  PciAddress a;
  Device *d;

  g_assert_true (address_parse ("0000:03:00.1", &a));
  d = device_new (&a);
  d->vendor_id = 0x8086, d->device_id = 0x10d4;
  g_ptr_array_add (out, d);
  g_assert_true (address_parse ("0000:03:00.0", &a));
  d = device_new (&a);
  d->vendor_id = 0x8086, d->device_id = 0x10d3;
  d->subsystem_vendor_id = 0x8086, d->subsystem_device_id = 0xa01f;
  g_ptr_array_add (out, d);
  return out;
}

static GPtrArray *
parse (const char *text)
{
  return grants_parse (text, strlen (text));
}

static void
test_parse_good (void)
{
  g_autoptr (GPtrArray) g = parse ("[grant 2]\npath=/dev/vfio/devices/vfio0\ngroup=5\nuid=1000\n"
                                   "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1000\n");
  const Grant *a, *b;

  g_assert_cmpuint (g->len, ==, 2);
  a = g_ptr_array_index (g, 0);
  b = g_ptr_array_index (g, 1);
  /* sorted by path */
  g_assert_cmpstr (a->path, ==, "/dev/vfio/5");
  g_assert_cmpuint (a->group, ==, 5);
  g_assert_cmpuint (a->uid, ==, 1000);
  g_assert_cmpstr (b->path, ==, "/dev/vfio/devices/vfio0");
  /* an older vfiod's record: kept, but of no boot (so of another one) */
  g_assert_null (a->boot_id);
  g_assert_null (a->members);
  g_assert_false (grant_of_boot (a, BOOT));
}

static void
test_parse_boot (void)
{
  g_autoptr (GPtrArray) g = parse ("[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1000\n" NEW);
  g_autoptr (GPtrArray) now = devices ();
  g_autofree char *why = NULL;
  const Grant *a;
  const GrantMember *m;

  g_assert_cmpuint (g->len, ==, 1);
  a = g_ptr_array_index (g, 0);
  g_assert_cmpstr (a->boot_id, ==, BOOT);
  g_assert_true (grant_of_boot (a, BOOT));
  g_assert_false (grant_of_boot (a, "0f4e3b5a-9c1d-4e2f-8a7b-6c5d4e3f2a1c"));
  g_assert_false (grant_of_boot (a, NULL));
  g_assert_cmpuint (a->members->len, ==, 2);
  m = &g_array_index (a->members, GrantMember, 0);
  g_assert_cmpuint (m->address.bus, ==, 3);
  g_assert_cmpuint (m->vendor_id, ==, 0x8086);
  g_assert_cmpuint (m->device_id, ==, 0x10d3);
  g_assert_cmpuint (m->subsystem_vendor_id, ==, 0x8086);
  g_assert_cmpuint (m->subsystem_device_id, ==, 0xa01f);
  m = &g_array_index (a->members, GrantMember, 1);
  g_assert_cmpuint (m->address.function, ==, 1);

  /* the same devices, in any order: the same group */
  g_assert_true (grant_members_match (a, now, NULL));
  /* another device at the address: not */
  ((Device *) g_ptr_array_index (now, 0))->device_id = 0x10d5;
  g_assert_false (grant_members_match (a, now, &why));
  g_assert_nonnull (strstr (why, "0000:03:00.1"));
  g_clear_pointer (&why, g_free);
  /* a subsystem id differs: not */
  ((Device *) g_ptr_array_index (now, 0))->device_id = 0x10d4;
  ((Device *) g_ptr_array_index (now, 1))->subsystem_device_id = 0xa020;
  g_assert_false (grant_members_match (a, now, NULL));
  ((Device *) g_ptr_array_index (now, 1))->subsystem_device_id = 0xa01f;
  g_assert_true (grant_members_match (a, now, NULL));
  /* one member fewer, or one more: not */
  g_ptr_array_remove_index (now, 0);
  g_assert_false (grant_members_match (a, now, NULL));
}

static void
test_boot_id_valid (void)
{
  const char *id = boot_id_current ();

  /* this machine's, as the kernel spells it */
  g_assert_nonnull (id);
  g_assert_true (boot_id_valid (id));
  g_assert_true (id == boot_id_current ()); /* cached */
  g_assert_true (boot_id_valid (BOOT));
  g_assert_false (boot_id_valid (NULL));
  g_assert_false (boot_id_valid (""));
  g_assert_false (boot_id_valid ("0F4E3B5A-9C1D-4E2F-8A7B-6C5D4E3F2A1B"));
  g_assert_false (boot_id_valid ("0f4e3b5a9c1d4e2f8a7b6c5d4e3f2a1b"));
  g_assert_false (boot_id_valid ("0f4e3b5a-9c1d-4e2f-8a7b-6c5d4e3f2a1"));
  g_assert_false (boot_id_valid ("0f4e3b5a-9c1d-4e2f-8a7b-6c5d4e3f2a1bb"));
  g_assert_false (boot_id_valid ("0f4e3b5a-9c1d-4e2f-8a7b-6c5d4e3f2a1g"));
  g_assert_false (boot_id_valid ("0f4e3b5a-9c1d-4e2f-8a7b 6c5d4e3f2a1b"));
  g_assert_false (boot_id_valid ("0f4e3b5a-9c1d-4e2f-8a7b-6c5d4e3f2a1\n"));
}

static void
test_parse_hostile (void)
{
  static const char *const bad[] = {
    "[grant 1]\npath=/etc/shadow\ngroup=5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/6\ngroup=5\nuid=1000\n", /* another group's node */
    "[grant 1]\npath=/dev/vfio/5/../../sda\ngroup=5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/05\ngroup=5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/devices/vfio01\ngroup=5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/devices/vfio1x\ngroup=5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/devices/../5\ngroup=5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=-5\nuid=1000\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=4294967295\n", /* (uid_t) -1 */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=-1\n", "[grant 1]\npath=/dev/vfio/5\ngroup=5\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nrevoking=yes\n",
    "[other]\npath=/dev/vfio/5\ngroup=5\nuid=1\n", "not a key file \x01\x02", "",
    /* boot id and members: both, or (an older vfiod's) neither */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT "\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nmembers=" MEMBERS "\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=\nmembers=" MEMBERS "\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=0F4E3B5A-9C1D-4E2F-8A7B-6C5D4E3F2A1B\n"
    "members=" MEMBERS "\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=../../etc/x\nmembers=" MEMBERS "\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT "x\nmembers=" MEMBERS "\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT "\nmembers=\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT "\nmembers=;\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 0x8086 0x10d3 0x8086\n", /* an id short */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 0x8086 0x10d3 0x8086 0x0000 0x0000\n", /* one too many */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 0x18086 0x10d3 0x8086 0x0000\n", /* not 16 bits */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 8086 0x10d3 0x8086 0x0000\n", /* no 0x */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 0x-086 0x10d3 0x8086 0x0000\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0  0x8086 0x10d3 0x8086 0x0000\n", /* two spaces */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=03:00.0 0x8086 0x10d3 0x8086 0x0000\n", /* not the kernel's name */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.8 0x8086 0x10d3 0x8086 0x0000\n", /* no function 8 */
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=../../../etc 0x8086 0x10d3 0x8086 0x0000\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.1 0x8086 0x10d3 0x8086 0x0000;0000:03:00.0 0x8086 0x10d3 0x8086 0x0000\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 0x8086 0x10d3 0x8086 0x0000;0000:03:00.0 0x8086 0x10d3 0x8086 0x0000\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nboot_id=" BOOT
    "\nmembers=0000:03:00.0 0x8086 0x10d3 0x8086 0x0000;\n", /* an empty member */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GPtrArray) g = NULL;
      if (*bad[i])
        g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*");
      g = parse (bad[i]);
      if (*bad[i])
        g_test_assert_expected_messages ();
      g_assert_cmpuint (g->len, ==, 0);
    }
}

static void
test_round_trip (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vfiod-grants-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "grants.state", NULL);
  g_autoptr (GError) error = NULL;
  Grants *grants = grants_open (dir, &error);
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (GPtrArray) now = devices ();
  g_autoptr (GArray) members = grant_members_from_devices (now);

  g_assert_no_error (error);
  g_assert_true (grants_add (grants, "/dev/vfio/5", 5, 1000, BOOT, members, &error));
  g_assert_true (
      grants_add (grants, "/dev/vfio/5", 5, 1000, BOOT, members, &error)); /* kept once */
  g_assert_true (grants_add (grants, "/dev/vfio/7", 7, 1001, BOOT, members, &error));
  grants_free (grants);

  grants = grants_open (dir, &error);
  list = grants_list (grants, -1);
  g_assert_cmpuint (list->len, ==, 2);
  /* boot and members come back as they were given */
  for (guint i = 0; i < list->len; i++)
    {
      const Grant *g = g_ptr_array_index (list, i);
      g_assert_cmpstr (g->boot_id, ==, BOOT);
      g_assert_true (grant_members_match (g, now, NULL));
    }
  g_clear_pointer (&list, g_ptr_array_unref);
  list = grants_list (grants, 7);
  g_assert_cmpuint (list->len, ==, 1);
  g_assert_cmpuint (((Grant *) g_ptr_array_index (list, 0))->uid, ==, 1001);
  /* marked revoking: kept so across a restart, until it is removed */
  g_assert_true (grants_mark_revoking (grants, "/dev/vfio/7", 1001, &error));
  grants_free (grants);
  grants = grants_open (dir, &error);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = grants_list (grants, 7);
  g_assert_true (((Grant *) g_ptr_array_index (list, 0))->revoking);
  /* and keeps what it was granted in */
  g_assert_cmpstr (((Grant *) g_ptr_array_index (list, 0))->boot_id, ==, BOOT);
  g_assert_true (grant_members_match (g_ptr_array_index (list, 0), now, NULL));
  g_clear_pointer (&list, g_ptr_array_unref);
  list = grants_list (grants, 5);
  g_assert_false (((Grant *) g_ptr_array_index (list, 0))->revoking);
  g_assert_true (grants_remove (grants, "/dev/vfio/7", 1001, &error));
  g_assert_true (grants_remove (grants, "/dev/vfio/7", 1001, &error)); /* gone already: fine */
  grants_free (grants);

  grants = grants_open (dir, &error);
  g_clear_pointer (&list, g_ptr_array_unref);
  list = grants_list (grants, -1);
  g_assert_cmpuint (list->len, ==, 1);
  grants_free (grants);
  g_unlink (file);
  g_rmdir (dir);
}

static void
test_format_size (void)
{
  g_autofree char *a = access_format_size (256 << 20);
  g_autofree char *b = access_format_size (8ULL << 30);

  g_assert_cmpstr (a, ==, "256.0 MiB");
  g_assert_cmpstr (b, ==, "8.0 GiB");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grants/parse-good", test_parse_good);
  g_test_add_func ("/grants/parse-boot", test_parse_boot);
  g_test_add_func ("/grants/boot-id", test_boot_id_valid);
  g_test_add_func ("/grants/parse-hostile", test_parse_hostile);
  g_test_add_func ("/grants/round-trip", test_round_trip);
  g_test_add_func ("/grants/format-size", test_format_size);
  return g_test_run ();
}
