/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "daemon.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

#include "bootid.h"
#include "bus-source.h"
#include "config.h"
#include "records.h"
#include "errors.h"
#include "manager.h"
#include "state.h"
#include "transaction.h"
#include "util.h"
#include "names.h"

typedef struct {
  GMainLoop *loop;
  int status;
} Daemon;

static gboolean
on_signal (gpointer user_data)
{
  Daemon *daemon = user_data;

  g_message ("Stopping on signal");
  g_main_loop_quit (daemon->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_grace_over (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Called by the bus source when the connection fails. */
static gboolean
on_bus_lost (gpointer user_data)
{
  Daemon *daemon = user_data;

  g_warning ("Lost the system bus connection, exiting");
  daemon->status = -ECONNRESET;
  g_main_loop_quit (daemon->loop);
  return G_SOURCE_REMOVE;
}

int
daemon_run (void)
{
  _cleanup_ (sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
  Daemon daemon = { .loop = g_main_loop_new (NULL, FALSE) };
  g_autoptr (GError) error = NULL;
  Manager *manager = NULL;
  State *state = NULL;
  Grants *grants = NULL;
  g_autoptr (Records) records = records_new (records_default_dir ());
  GSource *source = NULL;
  guint sigterm, sigint;
  int r;

  /* This thread is the main thread for good: offload_push() and the jobs
   * coming back check it, before the loop runs and after it returned. */
  g_main_context_acquire (NULL);

  /* First: a SIGTERM that comes while we start (systemd stopping us
   * right after the name appeared) must end the loop, not kill us
   * mid-way. */
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &daemon);
  sigint = g_unix_signal_add (SIGINT, on_signal, &daemon);

  r = sd_bus_error_add_map (vfiod_error_map);
  if (r < 0)
    goto out;

  state = state_open (state_default_dir (), boot_id_current (), &error);
  if (state == NULL)
    {
      g_warning ("%s", error->message);
      r = -EIO;
      goto out;
    }
  grants = grants_open (state_default_dir (), &error);
  if (grants == NULL)
    {
      g_warning ("%s", error->message);
      r = -EIO;
      goto out;
    }
  /* An earlier run killed mid-transaction left devices half-moved: put
   * them back before anybody can ask about them. */
  transaction_recover (state, records);

  r = sd_bus_open_system (&bus);
  if (r < 0)
    {
      g_warning ("Cannot connect to the system bus: %s", g_strerror (-r));
      goto out;
    }

  manager = manager_new (bus, state, grants, records);
  if (manager == NULL)
    {
      r = -errno;
      g_warning ("Cannot export " VFIOD_DBUS_PATH ": %s", g_strerror (-r));
      goto out;
    }

  /* Export first, then take the name: a caller activated by the name
   * finds the object there. */
  r = sd_bus_request_name (bus, VFIOD_DBUS_NAME, 0);
  if (r < 0)
    {
      g_warning ("Cannot own " VFIOD_DBUS_NAME " on the system bus: %s "
                 "(is another vfiod running, or does the bus policy "
                 "in dbus-1/system.d not allow it?)",
                 g_strerror (-r));
      goto out;
    }

  source = bus_source_attach (bus, NULL);
  g_source_set_callback (source, on_bus_lost, &daemon, NULL);

  g_message ("vfiod %s serving " VFIOD_DBUS_NAME, VFIOD_VERSION);
  g_main_loop_run (daemon.loop);
  r = daemon.status;

  /* no new work; let running transactions finish and every caller still
   * waiting get an answer */
  manager_quit (manager);
  if (manager_is_working (manager))
    g_message ("Waiting for the operations under way to finish");
  while (manager_is_working (manager))
    g_main_context_iteration (NULL, TRUE);

  /* reads change nothing: their callers are answered if they end soon,
   * and one stuck in the kernel does not hold the stop */
  if (manager_is_reading (manager))
    {
      gboolean late = FALSE;
      guint timer = g_timeout_add (VFIOD_STOP_READ_GRACE_MS, on_grace_over, &late);

      while (manager_is_reading (manager) && !late)
        g_main_context_iteration (NULL, TRUE);
      if (!late)
        g_source_remove (timer);
    }

  if (manager_count_stuck (manager) > 0 || manager_is_reading (manager))
    {
      /* A worker is blocked in a sysfs write that may never return, or a
       * reader in a read, and still uses the manager and the state: free
       * nothing, leave now.  A stuck transaction is recorded pending, so
       * the next start-up rolls it back. */
      if (manager_count_stuck (manager) > 0)
        g_warning ("Exiting with %u operation(s) stuck in the kernel; the next start will "
                   "roll back what they left pending",
                   manager_count_stuck (manager));
      else
        g_warning ("Exiting with a read of sysfs that has not returned for %u ms (its caller "
                   "gets no answer; nothing was changed)",
                   VFIOD_STOP_READ_GRACE_MS);
      sd_bus_flush (bus);
      _exit (r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
    }

  g_source_destroy (source);
  g_source_unref (source);

out:
  g_source_remove (sigterm);
  g_source_remove (sigint);
  manager_free (manager);
  state_free (state);
  grants_free (grants);
  g_main_loop_unref (daemon.loop);
  g_main_context_release (NULL);
  return r < 0 ? r : 0;
}
