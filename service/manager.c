/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The org.freedesktop.vfio1.Manager object: its vtable, built from the
 * method families' MethodSpecs (manager-reads.c, manager-change.c,
 * manager-use.c), run by the engine (manager-engine.c); its start and its
 * stop. */
#include "manager.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "assignments.h"
#include "config.h"
#include "manager-private.h"
#include "names.h"

static int
property_get_version (sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
  return sd_bus_message_append (reply, "s", VFIOD_VERSION);
}

/* The vtable: Version, then every family's methods. */
static sd_bus_vtable *
manager_build_vtable (void)
{
  GArray *vtable = g_array_new (FALSE, TRUE, sizeof (sd_bus_vtable));
  const sd_bus_vtable start[] = {
    SD_BUS_VTABLE_START (0),
    SD_BUS_PROPERTY (VFIOD_PROPERTY_VERSION, "s", property_get_version, 0,
                     SD_BUS_VTABLE_PROPERTY_CONST),
  };
  const sd_bus_vtable end = SD_BUS_VTABLE_END;

  g_array_append_vals (vtable, start, G_N_ELEMENTS (start));
  engine_add_methods (vtable, manager_reads);
  engine_add_methods (vtable, manager_changes);
  engine_add_methods (vtable, manager_uses);
  g_array_append_val (vtable, end);
  return (sd_bus_vtable *) g_array_free (vtable, FALSE);
}

static void
on_model_changed (gpointer user_data)
{
  manager_reconcile_grants (user_data, FALSE);
}

/* A duration in milliseconds from the environment (tests shorten the
 * limits), or @fallback. */
static guint
env_ms (const char *name, guint fallback)
{
  const char *text = g_getenv (name);
  guint64 value;

  if (text == NULL || !g_ascii_string_to_unsigned (text, 10, 1, G_MAXUINT, &value, NULL))
    return fallback;
  return (guint) value;
}

Manager *
manager_new (sd_bus *bus, State *state, Grants *grants, Records *records)
{
  Manager *self = g_new0 (Manager, 1);
  int r;

  self->bus = sd_bus_ref (bus);
  self->state = state;
  self->grants = grants;
  self->records = records;
  self->authz = authz_new (env_ms (VFIOD_ENV_AUTHZ_TIMEOUT_MS, VFIOD_AUTHZ_TIMEOUT_MS),
                           env_ms (VFIOD_ENV_AUTHZ_TIMEOUT_MS, VFIOD_AUTHZ_INTERACTIVE_TIMEOUT_MS));
  g_mutex_init (&self->locks_lock);
  self->authorizing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->waiting = g_ptr_array_new ();
  self->running = g_ptr_array_new ();
  self->stuck = g_hash_table_new (NULL, NULL);
  self->write_timeout_ms = env_ms (VFIOD_ENV_WRITE_TIMEOUT_MS, VFIOD_WRITE_TIMEOUT_MS);
  settings_load (&self->settings, settings_default_path (), manager_physical_memory ());
  g_message ("SetLockedMemoryLimit gives one process at most %" G_GUINT64_FORMAT " bytes (%s)",
             self->settings.max_locked_memory,
             self->settings.max_locked_memory_default ? "the default" : settings_default_path ());
  /* a crowd of callers costs a queue entry each, not a reading of the
   * whole machine each at once */
  self->readers = offload_new ("reader", VFIOD_READERS);
  /* a worker may block for good in a stuck driver: one each */
  self->workers = offload_new ("worker", -1);
  self->vtable = manager_build_vtable ();
  r = sd_bus_add_object_vtable (bus, &self->slot, VFIOD_DBUS_PATH, VFIOD_DBUS_MANAGER_INTERFACE,
                                self->vtable, self);
  if (r >= 0)
    {
      self->model = model_new (bus, records, state);
      r = self->model ? 0 : -errno;
    }
  if (r < 0)
    {
      manager_free (self);
      errno = -r;
      return NULL;
    }
  /* listen first: what changes while the machine is read is news */
  self->monitor = monitor_new (self->model);
  model_load (self->model);
  assignments_warn (self->records, self->model);
  records_warn_notes ();
  /* grants recorded by an earlier run: those that no longer hold go, the
   * others are applied again */
  manager_reconcile_grants (self, TRUE);
  model_set_changed_callback (self->model, on_model_changed, self);
  /* the reads from the objects see the news still in the monitor's sockets */
  model_set_news_probe (self->model, (ModelNewsFunc) monitor_news_waiting, self->monitor);
  return self;
}

void
manager_quit (Manager *self)
{
  g_autoptr (GPtrArray) waiting = g_ptr_array_copy (self->waiting, NULL, NULL);

  self->quitting = TRUE;
  /* checks still waiting for polkit are withdrawn; their callers are told */
  for (guint i = 0; i < waiting->len; i++)
    g_cancellable_cancel (((Call *) g_ptr_array_index (waiting, i))->cancel);
}

gboolean
manager_is_working (Manager *self)
{
  return self->working > 0 || self->waiting->len > 0;
}

gboolean
manager_is_reading (Manager *self)
{
  /* the model's own read too: closing it waits for that read */
  return offload_pending (self->readers) > 0 || self->viewing > 0 || model_is_reading (self->model);
}

guint
manager_count_stuck (Manager *self)
{
  return self->abandoned;
}

void
manager_free (Manager *self)
{
  if (self == NULL)
    return;
  sd_bus_slot_unref (self->slot);
  /* nothing is reading or working by now (the daemon waited, or left
   * without freeing) */
  g_assert (self->readers == NULL || offload_pending (self->readers) == 0);
  offload_free (self->readers);
  offload_free (self->workers);
  g_free (self->vtable);
  monitor_free (self->monitor);
  model_free (self->model);
  authz_free (self->authz);
  g_clear_pointer (&self->group_locks, g_hash_table_unref);
  g_mutex_clear (&self->locks_lock);
  g_hash_table_unref (self->authorizing);
  g_ptr_array_unref (self->waiting);
  g_ptr_array_unref (self->running);
  g_hash_table_unref (self->stuck);
  sd_bus_unref (self->bus);
  g_free (self);
}
