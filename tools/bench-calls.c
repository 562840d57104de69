/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-calls: latency of vfiod's methods against Peer.Ping on the same
 * bus connection, measured from a plain sd-bus client.  Prints figures;
 * asserts nothing.
 *
 *   bench-calls GROUP-DEVICE [ITERATIONS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "vfiod-names.h"

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}

/* Times @n calls; fills @median and @p99 in microseconds. */
static int
measure (sd_bus *bus, const char *interface, const char *method, const char *arg, int n,
         double *median, double *p99)
{
  uint64_t *t = calloc ((size_t) n, sizeof *t);

  for (int i = 0; i < n; i++)
    {
      sd_bus_error error = SD_BUS_ERROR_NULL;
      sd_bus_message *reply = NULL;
      uint64_t start = now_ns ();
      int r = arg ? sd_bus_call_method (bus, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH, interface, method,
                                        &error, &reply, "s", arg)
                  : sd_bus_call_method (bus, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH, interface, method,
                                        &error, &reply, "");
      t[i] = now_ns () - start;
      if (r < 0)
        {
          fprintf (stderr, "%s failed: %s\n", method,
                   error.message ? error.message : strerror (-r));
          sd_bus_error_free (&error);
          free (t);
          return r;
        }
      sd_bus_message_unref (reply);
    }
  qsort (t, (size_t) n, sizeof *t, cmp_u64);
  *median = (double) t[n / 2] / 1000.0;
  *p99 = (double) t[(n * 99) / 100] / 1000.0;
  free (t);
  return 0;
}

int
main (int argc, char **argv)
{
  sd_bus *bus = NULL;
  const char *device;
  int n, r;
  double ping_med, ping_p99, group_med, group_p99, list_med, list_p99;

  if (argc < 2)
    {
      fprintf (stderr, "usage: %s GROUP-DEVICE [ITERATIONS]\n", argv[0]);
      return 2;
    }
  device = argv[1];
  n = argc > 2 ? atoi (argv[2]) : 2000;
  if (n < 100)
    n = 100;

  r = sd_bus_open_system (&bus);
  if (r < 0)
    {
      fprintf (stderr, "cannot connect to the system bus: %s\n", strerror (-r));
      return 1;
    }

  /* warm up both paths (page cache, hwdb cache) */
  if (measure (bus, "org.freedesktop.DBus.Peer", "Ping", NULL, 100, &ping_med, &ping_p99) < 0 ||
      measure (bus, VFIOD_DBUS_MANAGER_INTERFACE, VFIOD_METHOD_GET_GROUP, device, 100, &group_med,
               &group_p99) < 0)
    return 1;

  if (measure (bus, "org.freedesktop.DBus.Peer", "Ping", NULL, n, &ping_med, &ping_p99) < 0 ||
      measure (bus, VFIOD_DBUS_MANAGER_INTERFACE, VFIOD_METHOD_GET_GROUP, device, n, &group_med,
               &group_p99) < 0 ||
      measure (bus, VFIOD_DBUS_MANAGER_INTERFACE, VFIOD_METHOD_LIST_DEVICES, NULL, 50, &list_med,
               &list_p99) < 0)
    return 1;

  printf ("Peer.Ping     median %8.1f us   p99 %8.1f us   (%d calls)\n", ping_med, ping_p99, n);
  printf ("GetGroup      median %8.1f us   p99 %8.1f us   (%d calls, group of %s)\n", group_med,
          group_p99, n, device);
  printf ("GetGroup / Ping median ratio: %.2f   (target <= 1.1)\n", group_med / ping_med);
  printf ("ListDevices   median %8.1f ms   p99 %8.1f ms   (50 calls; target <= 50 ms)\n",
          list_med / 1000.0, list_p99 / 1000.0);
  sd_bus_flush_close_unref (bus);
  return 0;
}
