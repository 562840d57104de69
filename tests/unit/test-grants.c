/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* grants.c: the record of ACL entries vfiod gave, read back as untrusted
 * input: only vfiod's own nodes, well-formed numbers, ever come out. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "access.h"
#include "grants.h"

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
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=-1\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\n",
    "[grant 1]\npath=/dev/vfio/5\ngroup=5\nuid=1\nrevoking=yes\n",
    "[other]\npath=/dev/vfio/5\ngroup=5\nuid=1\n",
    "not a key file \x01\x02",
    "",
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

  g_assert_no_error (error);
  g_assert_true (grants_add (grants, "/dev/vfio/5", 5, 1000, &error));
  g_assert_true (grants_add (grants, "/dev/vfio/5", 5, 1000, &error)); /* kept once */
  g_assert_true (grants_add (grants, "/dev/vfio/7", 7, 1001, &error));
  grants_free (grants);

  grants = grants_open (dir, &error);
  list = grants_list (grants, -1);
  g_assert_cmpuint (list->len, ==, 2);
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
  g_test_add_func ("/grants/parse-hostile", test_parse_hostile);
  g_test_add_func ("/grants/round-trip", test_round_trip);
  g_test_add_func ("/grants/format-size", test_format_size);
  return g_test_run ();
}
