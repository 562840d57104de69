/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* load-clients: many concurrent callers of vfiod's read methods, each on
 * its own bus connection in its own thread, for a fixed time.  Prints the
 * calls, the errors and the latency percentiles; asserts nothing (tools/load
 * decides).  The last line is machine-readable:
 *
 *   RESULT calls=N errors=E
 *
 *   load-clients CLIENTS SECONDS DEVICE...
 *
 * Each client alternates GetGroup (of the DEVICEs in turn) and ListDevices.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "vfiod-names.h"

#define CALL_TIMEOUT_USEC (60ULL * 1000000ULL)

typedef struct {
  uint32_t *us;
  size_t n, size;
} Samples;

typedef struct {
  sd_bus *bus;
  int index;
  char **devices;
  int n_devices;
  uint64_t deadline_ns;
  Samples get_group, list_devices;
  unsigned long errors;
  char first_error[256];
} Client;

static pthread_barrier_t start_line;

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
samples_add (Samples *s, uint64_t ns)
{
  if (s->n == s->size)
    {
      s->size = s->size ? s->size * 2 : 1024;
      s->us = realloc (s->us, s->size * sizeof *s->us);
      if (!s->us)
        abort ();
    }
  s->us[s->n++] = (uint32_t) (ns / 1000);
}

static void
samples_merge (Samples *into, const Samples *from)
{
  for (size_t i = 0; i < from->n; i++)
    samples_add (into, (uint64_t) from->us[i] * 1000);
}

static int
cmp_u32 (const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
  return x < y ? -1 : x > y;
}

static void
samples_print (const char *what, Samples *s)
{
  if (s->n == 0)
    {
      printf ("%-12s %8zu calls\n", what, s->n);
      return;
    }
  qsort (s->us, s->n, sizeof *s->us, cmp_u32);
  printf ("%-12s %8zu calls   p50 %8.2f ms   p99 %8.2f ms   max %8.2f ms\n", what, s->n,
          s->us[s->n / 2] / 1000.0, s->us[(s->n * 99) / 100] / 1000.0, s->us[s->n - 1] / 1000.0);
}

static void
client_error (Client *c, const char *method, const sd_bus_error *error, int r)
{
  c->errors++;
  if (!c->first_error[0])
    snprintf (c->first_error, sizeof c->first_error, "client %d: %s: %s", c->index, method,
              error && error->message ? error->message : strerror (-r));
}

static void *
client_run (void *data)
{
  Client *c = data;

  pthread_barrier_wait (&start_line);
  for (unsigned long i = 0; now_ns () < c->deadline_ns; i++)
    {
      sd_bus_error error = SD_BUS_ERROR_NULL;
      sd_bus_message *reply = NULL;
      bool get_group = i % 2 == 0;
      const char *method = get_group ? VFIOD_METHOD_GET_GROUP : VFIOD_METHOD_LIST_DEVICES;
      uint64_t start = now_ns ();
      int r;

      if (get_group)
        r = sd_bus_call_method (
            c->bus, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH, VFIOD_DBUS_MANAGER_INTERFACE, method, &error,
            &reply, "s",
            c->devices[(i / 2 + (unsigned long) c->index) % (unsigned long) c->n_devices]);
      else
        r = sd_bus_call_method (c->bus, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH,
                                VFIOD_DBUS_MANAGER_INTERFACE, method, &error, &reply, "");
      if (r < 0)
        client_error (c, method, &error, r);
      else
        samples_add (get_group ? &c->get_group : &c->list_devices, now_ns () - start);
      sd_bus_error_free (&error);
      sd_bus_message_unref (reply);
    }
  return NULL;
}

int
main (int argc, char **argv)
{
  Samples get_group = { 0 }, list_devices = { 0 }, all = { 0 };
  unsigned long errors = 0;
  pthread_t *threads;
  Client *clients;
  double seconds;
  int n, connected = 0;
  uint64_t began;

  if (argc < 4)
    {
      fprintf (stderr, "usage: %s CLIENTS SECONDS DEVICE...\n", argv[0]);
      return 2;
    }
  n = atoi (argv[1]);
  seconds = atof (argv[2]);
  if (n < 1 || seconds <= 0)
    {
      fprintf (stderr, "load-clients: CLIENTS must be >= 1 and SECONDS > 0\n");
      return 2;
    }
  clients = calloc ((size_t) n, sizeof *clients);
  threads = calloc ((size_t) n, sizeof *threads);
  if (!clients || !threads)
    return 1;

  /* Connect one after the other (the bus refuses too many half-open
   * connections at once), each completing its Hello before the next. */
  for (int i = 0; i < n; i++)
    {
      Client *c = &clients[i];
      const char *unique;
      int r;

      c->index = i;
      c->devices = argv + 3;
      c->n_devices = argc - 3;
      r = sd_bus_open_system (&c->bus);
      if (r >= 0)
        r = sd_bus_set_method_call_timeout (c->bus, CALL_TIMEOUT_USEC);
      if (r >= 0)
        r = sd_bus_get_unique_name (c->bus, &unique);
      if (r < 0)
        {
          client_error (c, "connect", NULL, r);
          c->bus = sd_bus_flush_close_unref (c->bus);
        }
      else
        connected++;
    }

  pthread_barrier_init (&start_line, NULL, (unsigned) connected + 1);
  began = now_ns ();
  for (int i = 0; i < n; i++)
    {
      clients[i].deadline_ns = began + (uint64_t) (seconds * 1e9);
      if (clients[i].bus && pthread_create (&threads[i], NULL, client_run, &clients[i]) != 0)
        {
          fprintf (stderr, "load-clients: cannot start a thread\n");
          return 1;
        }
    }
  pthread_barrier_wait (&start_line);
  began = now_ns ();
  for (int i = 0; i < n; i++)
    {
      Client *c = &clients[i];

      if (c->bus)
        pthread_join (threads[i], NULL);
      errors += c->errors;
      if (c->first_error[0])
        fprintf (stderr, "%s\n", c->first_error);
      samples_merge (&get_group, &c->get_group);
      samples_merge (&list_devices, &c->list_devices);
      samples_merge (&all, &c->get_group);
      samples_merge (&all, &c->list_devices);
      free (c->get_group.us);
      free (c->list_devices.us);
      sd_bus_flush_close_unref (c->bus);
    }
  seconds = (double) (now_ns () - began) / 1e9;
  printf ("%d clients (%d connected), each on its own connection, %.1f s\n", n, connected, seconds);
  samples_print ("GetGroup", &get_group);
  samples_print ("ListDevices", &list_devices);
  samples_print ("all", &all);
  printf ("throughput   %8.0f calls/s   errors %lu\n", (double) all.n / seconds, errors);
  printf ("RESULT calls=%zu errors=%lu\n", all.n, errors);
  free (get_group.us);
  free (list_devices.us);
  free (all.us);
  free (clients);
  free (threads);
  pthread_barrier_destroy (&start_line);
  return 0;
}
