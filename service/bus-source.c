/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bus-source.h"

#include <poll.h>

typedef struct {
  GSource source;
  sd_bus *bus;
  gpointer tag;
  GIOCondition events; /* what the fd is polled for now */
} BusSource;

/* sd-bus asks for a wake-up at an absolute CLOCK_MONOTONIC time (µs);
 * GLib's monotonic clock is the same clock. */
static gboolean
bus_source_prepare (GSource *source, gint *timeout)
{
  BusSource *self = (BusSource *) source;
  uint64_t until = UINT64_MAX;
  int events = sd_bus_get_events (self->bus);
  GIOCondition want = events > 0 ? (GIOCondition) events : 0;

  /* Modifying the poll record wakes the context up: only on a change, or
   * an idle daemon would spin. */
  if (want != self->events)
    {
      g_source_modify_unix_fd (source, self->tag, want);
      self->events = want;
    }

  *timeout = -1;
  if (sd_bus_get_timeout (self->bus, &until) >= 0 && until != UINT64_MAX)
    {
      gint64 now = g_get_monotonic_time ();
      if ((gint64) until <= now)
        {
          *timeout = 0;
          return TRUE;
        }
      *timeout = (gint) MIN ((until - (uint64_t) now + 999) / 1000, (uint64_t) G_MAXINT);
    }
  /* messages sd-bus has read already make its timeout 0 (handled above);
   * otherwise wait for the fd or the timeout */
  return FALSE;
}

static gboolean
bus_source_check (GSource *source)
{
  BusSource *self = (BusSource *) source;
  uint64_t until = UINT64_MAX;

  if (g_source_query_unix_fd (source, self->tag) != 0)
    return TRUE;
  return sd_bus_get_timeout (self->bus, &until) >= 0 && until != UINT64_MAX &&
         (gint64) until <= g_get_monotonic_time ();
}

static gboolean
bus_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  BusSource *self = (BusSource *) source;
  int r;

  /* Process until sd-bus has nothing more it can do without waiting; a
   * bound keeps one busy peer from starving the rest of the loop. */
  for (int i = 0; i < 64; i++)
    {
      r = sd_bus_process (self->bus, NULL);
      if (r < 0)
        {
          g_warning ("Bus connection failed: %s", g_strerror (-r));
          if (callback)
            return callback (user_data);
          return G_SOURCE_REMOVE;
        }
      if (r == 0)
        break;
    }
  return G_SOURCE_CONTINUE;
}

static void
bus_source_finalize (GSource *source)
{
  BusSource *self = (BusSource *) source;

  sd_bus_unref (self->bus);
}

static GSourceFuncs bus_source_funcs = {
  .prepare = bus_source_prepare,
  .check = bus_source_check,
  .dispatch = bus_source_dispatch,
  .finalize = bus_source_finalize,
};

GSource *
bus_source_attach (sd_bus *bus, GMainContext *context)
{
  GSource *source = g_source_new (&bus_source_funcs, sizeof (BusSource));
  BusSource *self = (BusSource *) source;

  self->bus = sd_bus_ref (bus);
  self->events = G_IO_IN;
  self->tag = g_source_add_unix_fd (source, sd_bus_get_fd (bus), self->events);
  g_source_set_name (source, "sd-bus");
  g_source_attach (source, context);
  return source;
}
