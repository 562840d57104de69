/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration file (/etc/vfiod/vfiod.conf): sizes parse strictly,
 * and a file or value that does not validate gives the default cap,
 * never a larger one. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "settings.h"

#define KIB ((uint64_t) 1 << 10)
#define MIB ((uint64_t) 1 << 20)
#define GIB ((uint64_t) 1 << 30)

static void
test_sizes (void)
{
  static const struct {
    const char *text;
    uint64_t bytes;
  } good[] = {
    { "1", 1 },
    { "1048576", MIB },
    { "64K", 64 * KIB },
    { "512M", 512 * MIB },
    { "16G", 16 * GIB },
    { "2T", 2048 * GIB },
    { "50%", 8 * GIB },
    { "100%", 16 * GIB },
    { "1%", 16 * GIB / 100 },
    { "00016G", 16 * GIB },
    { "16777215T", (uint64_t) 16777215 << 40 },
  };
  static const char *const bad[] = {
    "",
    "0",
    "0G",
    "-1",
    "+1",
    " 1",
    "1 ",
    "1.5G",
    "16g",
    "16GB",
    "16GiB",
    "16 G",
    "G",
    "%",
    "0%",
    "101%",
    "50.5%",
    "50%%",
    "1e9",
    "0x100",
    "16777216T",
    "18446744073709551616",
    "99999999999999999999999",
    "infinity",
    "16G\n",
    "1,5G",
    "½G",
  };
  uint64_t bytes;
  const char *why;

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_assert_true (settings_parse_size (good[i].text, 16 * GIB, &bytes, &why));
      g_assert_cmpuint (bytes, ==, good[i].bytes);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_test_message ("%s", bad[i]);
      g_assert_false (settings_parse_size (bad[i], 16 * GIB, &bytes, &why));
      g_assert_nonnull (why);
    }
  g_assert_false (settings_parse_size (NULL, 16 * GIB, &bytes, &why));
  /* a percentage of a memory not known means nothing */
  g_assert_false (settings_parse_size ("50%", 0, &bytes, &why));
  g_assert_true (settings_parse_size ("16G", 0, &bytes, &why));
}

static void
test_default (void)
{
  /* the machine's memory less max(1 GiB, 10 %), at most half of it */
  g_assert_cmpuint (settings_default_max_locked_memory (16 * GIB), ==, 16 * GIB - 16 * GIB / 10);
  g_assert_cmpuint (settings_default_max_locked_memory (4 * GIB), ==, 3 * GIB);
  g_assert_cmpuint (settings_default_max_locked_memory (10 * GIB), ==, 9 * GIB);
  g_assert_cmpuint (settings_default_max_locked_memory (GIB), ==, GIB / 2);
  g_assert_cmpuint (settings_default_max_locked_memory (0), ==, G_MAXUINT64);
}

static Settings
parse (const char *text, uint64_t memory)
{
  Settings s;

  settings_parse (&s, text, strlen (text), "vfiod.conf", memory);
  return s;
}

static void
test_file (void)
{
  uint64_t memory = 16 * GIB, fallback = settings_default_max_locked_memory (memory);
  static const char *const bad[] = {
    "MaxLockedMemory=1G\n",             /* no section: does not parse */
    "[Limits\nMaxLockedMemory=1G\n",    /* nor this */
    "[Limits]\nMaxLockedMemory=lots\n", /* not a size */
    "[Limits]\nMaxLockedMemory=\n",     /* empty */
    "[Limits]\nMaxLockedMemory=200%\n", /* out of range */
    "[Limits]\nMaxLockedMemory=-1\n",   /* a sign */
    "[Limits]\nMaxLockedMemory=99999999999999999999999T\n",
    "[Limits]\nMaxLockedMemory=1G\nMaxLockedMemory=\n", /* the last one counts */
    "[Other]\nMaxLockedMemory=1G\n",                    /* not our section */
    "[Limits]\nmaxlockedmemory=1G\n",                   /* keys are case-sensitive */
    "\xff\xfe[Limits]\n",                               /* not text */
    "",
  };

  /* each bad one is logged: expected here */
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      Settings s = parse (bad[i], memory);
      g_test_message ("%s", bad[i]);
      g_assert_cmpuint (s.max_locked_memory, ==, fallback);
      g_assert_true (s.max_locked_memory_default);
    }

  {
    Settings s = parse ("# a comment\n[Limits]\nMaxLockedMemory=4G\n", memory);
    g_assert_cmpuint (s.max_locked_memory, ==, 4 * GIB);
    g_assert_false (s.max_locked_memory_default);
  }
  {
    /* unknown keys and sections are warned about and left alone */
    Settings s = parse ("[Limits]\nMaxLockedMemory=25%\nSomethingElse=1\n[Extra]\nx=y\n", memory);
    g_assert_cmpuint (s.max_locked_memory, ==, 4 * GIB);
  }
  {
    /* above the machine's memory: the machine's memory */
    Settings s = parse ("[Limits]\nMaxLockedMemory=64G\n", memory);
    g_assert_cmpuint (s.max_locked_memory, ==, memory);
  }
  {
    /* a hostile file of any size and shape never crashes */
    g_autoptr (GString) huge = g_string_new ("[Limits]\nMaxLockedMemory=");
    for (int i = 0; i < 100000; i++)
      g_string_append_c (huge, '9');
    {
      Settings s = parse (huge->str, memory);
      g_assert_cmpuint (s.max_locked_memory, ==, fallback);
    }
  }
}

static void
test_load (void)
{
  g_autofree char *dir = g_dir_make_tmp ("vfiod-settings-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "vfiod.conf", NULL);
  Settings s;

  /* no file: the default, silently */
  settings_load (&s, path, 16 * GIB);
  g_assert_true (s.max_locked_memory_default);
  g_assert_true (g_file_set_contents (path, "[Limits]\nMaxLockedMemory=2G\n", -1, NULL));
  settings_load (&s, path, 16 * GIB);
  g_assert_cmpuint (s.max_locked_memory, ==, 2 * GIB);
  g_assert_false (s.max_locked_memory_default);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/settings/sizes", test_sizes);
  g_test_add_func ("/settings/default", test_default);
  g_test_add_func ("/settings/file", test_file);
  g_test_add_func ("/settings/load", test_load);
  return g_test_run ();
}
