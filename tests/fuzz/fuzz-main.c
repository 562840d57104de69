/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plain main for a harness when libFuzzer is not there (gcc, CI): runs
 * every file named on the command line, or found in a directory named
 * there, through LLVMFuzzerTestOneInput() once.  So a harness that stops
 * compiling, or a seed (a crash reproducer among them) that crashes
 * again, fails the meson suite "fuzz". */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
run_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &data, &length, &error))
    {
      fprintf (stderr, "cannot read %s: %s\n", path, error->message);
      return -1;
    }
  printf ("%s (%zu bytes)\n", path, (size_t) length);
  fflush (stdout);
  LLVMFuzzerTestOneInput ((const uint8_t *) data, length);
  return 0;
}

static gint
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
run_path (const char *path, unsigned *count)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = NULL;
  const char *name;

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      (*count)++;
      return run_file (path);
    }

  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    {
      fprintf (stderr, "cannot open %s\n", path);
      return -1;
    }
  /* sorted, so a failure names the same seed every time */
  names = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_build_filename (path, name, NULL));
  g_ptr_array_sort (names, compare_paths);
  for (guint i = 0; i < names->len; i++)
    if (run_path (g_ptr_array_index (names, i), count) < 0)
      return -1;
  return 0;
}

int
main (int argc, char **argv)
{
  unsigned count = 0;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
      return 2;
    }
  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    if (run_path (argv[i], &count) < 0)
      return 1;
  if (count == 0)
    {
      fprintf (stderr, "no inputs in the corpus: nothing was tested\n");
      return 1;
    }
  printf ("%u inputs ran without a crash\n", count);
  return 0;
}
