/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c: vfiod's entry point: options, bus, name, main loop. */
#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "daemon.h"

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  gboolean version = FALSE;
  GOptionEntry options[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL }, { NULL }
  };

  /* Large replies (ListDevices) come and go: keep them in mmap()ed
   * chunks given back on free, instead of letting glibc's dynamic
   * threshold move them into a heap that never shrinks. */
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (
      context, "The VFIO device manager: hands PCI devices to virtual machines,\n"
               "one IOMMU group at a time, on the system bus as org.freedesktop.vfio1.");
  g_option_context_set_description (context,
                                    "Environment:\n"
                                    "  DBUS_SYSTEM_BUS_ADDRESS  the system bus to serve on\n"
                                    "  STATE_DIRECTORY          where transactions are recorded\n"
                                    "  G_MESSAGES_DEBUG=all     debug logging\n");
  g_option_context_add_main_entries (context, options, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      fprintf (stderr, "vfiod: %s (try --help)\n", error->message);
      return 2;
    }
  if (version)
    {
      printf ("vfiod %s\n", VFIOD_VERSION);
      return 0;
    }

  return daemon_run () < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
