/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "model.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <malloc.h>
#include <poll.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "fields.h"
#include "hwdb.h"
#include "probe.h"
#include "records.h"
#include "util.h"
#include "names.h"
#include "offload.h"
#include "view.h"

struct Model {
  /* shared with workers; each has its own lock */
  SysfsCache *cache;
  Hwdb *hwdb;
  Records *records; /* the manager's */
  State *state;     /* the manager's (thread-safe); NULL: no owners */
  /* main thread only */
  Offload *reader; /* one thread: one read at a time */
  sd_bus *bus;     /* NULL: nothing published */
  sd_bus_slot *slots[5];
  View *view;       /* what the objects show */
  gboolean reading; /* a worker reads the machine */
  gboolean stale;   /* news came since that read began */
  gboolean closing; /* no new reads */
  gboolean loaded;  /* the view shows a successful reading ... */
  gboolean failed;  /* ... but the last reading failed: it is older */
  GQueue waiters;   /* Waiter*: model_when_current()'s callers */
  guint wait_ms;    /* how long they wait for a read at most */
  ModelNewsFunc news;
  gpointer news_data;
  ModelChangedFunc changed;
  gpointer changed_data;
  /* files that annotate the devices: the records directory and the boot
   * helper's notes (edited by hand, written by the helper) */
  int inotify_fd;
  guint inotify_source;
  struct {
    char *path;
    char *name; /* its name in its parent */
    int parent; /* the parent's watch: the directory may come and go */
  } watched[2];
};

/* A caller of model_when_current(). */
typedef struct {
  Model *model;
  ModelCurrentFunc func;
  gpointer data;
  guint idle;    /* checking once the main loop has handed on what news it has */
  guint timeout; /* waiting for a read */
} Waiter;

static void waiters_finish (Model *self, gboolean current);
static gboolean news_waiting (Model *self);

/* ---- reading, any thread ------------------------------------------- */

static void
describe (Model *self, GPtrArray *devices, ProbeFlags flags)
{
  for (guint i = 0; i < devices->len; i++)
    hwdb_lookup (self->hwdb, g_ptr_array_index (devices, i));
  hwdb_release (self->hwdb);
  probe_mark_in_use (self->cache, devices, flags);
  records_annotate (self->records, devices);
  if (self->state)
    {
      g_autoptr (GHashTable) owners = state_owners (self->state);

      for (guint i = 0; i < devices->len; i++)
        {
          Device *d = g_ptr_array_index (devices, i);
          gpointer owner;

          d->has_owner = g_hash_table_lookup_extended (owners, d->name, NULL, &owner);
          d->owner_uid = d->has_owner ? GPOINTER_TO_UINT (owner) : 0;
        }
    }
}

int
model_read_devices (Model *self, GPtrArray **out, char **unreadable)
{
  int r = sysfs_list_devices_full (self->cache, out, unreadable);

  /* a whole machine's list: never the walk of every process's files */
  if (r >= 0)
    describe (self, *out, 0);
  return r;
}

int
model_read_group (Model *self, uint32_t group, GPtrArray **out, char **unreadable)
{
  int r = sysfs_list_group_full (self->cache, group, out, unreadable);

  /* a group: what its plans and GetGroup say, with who holds its nodes */
  if (r >= 0)
    describe (self, *out, PROBE_OPENERS);
  return r;
}

/* ---- the objects -------------------------------------------------------- */

static int
device_find (sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
             sd_bus_error *error)
{
  Model *self = userdata;
  char name[ADDRESS_STRLEN];
  Device *d;

  if (!view_device_name_from_path (path, name) || (d = view_device (self->view, name)) == NULL)
    return 0;
  *found = d;
  return 1;
}

static int
device_enumerate (sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
  Model *self = userdata;
  char **out = g_new0 (char *, self->view->devices->len + 1);

  for (guint i = 0; i < self->view->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (self->view->devices, i);
      /* sd-bus frees these with free(): g_malloc is malloc */
      out[i] = view_device_path (d->name);
    }
  *nodes = out;
  return 0;
}

static int
group_find (sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
            sd_bus_error *error)
{
  Model *self = userdata;
  uint32_t number;
  ViewGroup *g;

  if (!view_group_number_from_path (path, &number) || (g = view_group (self->view, number)) == NULL)
    return 0;
  *found = g;
  return 1;
}

static int
group_enumerate (sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error)
{
  Model *self = userdata;
  g_autoptr (GPtrArray) out = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->view->groups);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (out, view_group_path (GPOINTER_TO_UINT (key)));
  g_ptr_array_add (out, NULL);
  *nodes = (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
  return 0;
}

/* One getter per interface: the row of the property says how. */
static int
device_get (sd_bus *bus, const char *path, const char *interface, const char *property,
            sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
  const DeviceField *f = fields_device_by_property (property);

  return f ? f->append_property (reply, f, userdata) : -ENOENT;
}

static int
group_get (sd_bus *bus, const char *path, const char *interface, const char *property,
           sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
  const GroupField *f = fields_group_by_property (property);

  return f ? f->append_property (reply, f, userdata) : -ENOENT;
}

/* The vtables, from the rows (fields.h), in their order.  A field that
 * never changes (no differ: Address and Number name the object) is
 * const; the rest is signalled when it does (ids too: they are not the
 * path).  sd-bus keeps pointers into them: static, filled once. */
static sd_bus_vtable device_vtable[DEVICE_FIELD_COUNT + 2];
static sd_bus_vtable group_vtable[GROUP_FIELD_COUNT + 2];

static void
vtables_build (void)
{
  static gsize built;
  gsize n;

  if (!g_once_init_enter (&built))
    return;
  n = 0;
  device_vtable[n++] = (sd_bus_vtable) SD_BUS_VTABLE_START (0);
  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    {
      const DeviceField *f = &fields_device[i];
      if (f->property)
        device_vtable[n++] = (sd_bus_vtable) SD_BUS_PROPERTY (
            f->property, f->property_signature, device_get, 0,
            f->differ ? SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE : SD_BUS_VTABLE_PROPERTY_CONST);
    }
  device_vtable[n] = (sd_bus_vtable) SD_BUS_VTABLE_END;
  n = 0;
  group_vtable[n++] = (sd_bus_vtable) SD_BUS_VTABLE_START (0);
  for (gsize i = 0; i < G_N_ELEMENTS (fields_group); i++)
    {
      const GroupField *f = &fields_group[i];
      if (f->property)
        group_vtable[n++] = (sd_bus_vtable) SD_BUS_PROPERTY (
            f->property, f->property_signature, group_get, 0,
            f->differ ? SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE : SD_BUS_VTABLE_PROPERTY_CONST);
    }
  group_vtable[n] = (sd_bus_vtable) SD_BUS_VTABLE_END;
  g_once_init_leave (&built, 1);
}

static int export(Model *self)
{
  int r;

  vtables_build ();
  r = sd_bus_add_object_manager (self->bus, &self->slots[0], VFIOD_DBUS_PATH);
  if (r >= 0)
    r = sd_bus_add_fallback_vtable (self->bus, &self->slots[1], VFIOD_DBUS_DEVICE_PATH_PREFIX,
                                    VFIOD_DBUS_DEVICE_INTERFACE, device_vtable, device_find, self);
  if (r >= 0)
    r = sd_bus_add_node_enumerator (self->bus, &self->slots[2], VFIOD_DBUS_DEVICE_PATH_PREFIX,
                                    device_enumerate, self);
  if (r >= 0)
    r = sd_bus_add_fallback_vtable (self->bus, &self->slots[3], VFIOD_DBUS_GROUP_PATH_PREFIX,
                                    VFIOD_DBUS_GROUP_INTERFACE, group_vtable, group_find, self);
  if (r >= 0)
    r = sd_bus_add_node_enumerator (self->bus, &self->slots[4], VFIOD_DBUS_GROUP_PATH_PREFIX,
                                    group_enumerate, self);
  return r;
}

/* ---- publishing -------------------------------------------------------- */

/* Shows @view (consumed) instead of the current one and tells every
 * subscriber what differs.  The order matters to sd-bus, which reads the
 * objects while it builds a signal: removals while the old objects still
 * answer, additions and changes once the new ones do. */
static void
publish (Model *self, View *view)
{
  g_autoptr (GPtrArray) changes = view_diff (self->view, view);
  g_autoptr (View) old = NULL;
  int r;

  for (guint i = 0; self->bus && i < changes->len; i++)
    {
      const ViewChange *c = g_ptr_array_index (changes, i);
      if (c->kind != VIEW_REMOVED)
        continue;
      r = sd_bus_emit_object_removed (self->bus, c->path);
      if (r < 0)
        g_warning ("Cannot signal that %s went away: %s", c->path, g_strerror (-r));
    }

  old = g_steal_pointer (&self->view);
  self->view = view;

  for (guint i = 0; i < changes->len; i++)
    {
      const ViewChange *c = g_ptr_array_index (changes, i);

      if (c->kind == VIEW_CHANGED)
        {
          g_autofree char *names = g_strjoinv (",", c->properties);
          g_debug ("%s: %s changed", c->path, names);
        }
      else
        g_debug ("%s: %s", c->path, c->kind == VIEW_ADDED ? "added" : "removed");
      if (self->bus == NULL || c->kind == VIEW_REMOVED)
        continue;
      if (c->kind == VIEW_ADDED)
        r = sd_bus_emit_object_added (self->bus, c->path);
      else
        r = sd_bus_emit_properties_changed_strv (self->bus, c->path, c->interface, c->properties);
      if (r < 0)
        g_warning ("Cannot signal a change of %s: %s", c->path, g_strerror (-r));
    }
  if (changes->len && self->changed)
    self->changed (self->changed_data);
}

static GPtrArray *
read_view_devices (Model *self, GError **error)
{
  GPtrArray *devices = NULL;
  g_autofree char *unreadable = NULL;
  int r = model_read_devices (self, &devices, &unreadable);

  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (-r),
                   "Cannot read %s: %s; the objects keep showing the last reading until the "
                   "next change",
                   unreadable ? unreadable : VFIOD_SYSFS_PCI_DEVICES, g_strerror (-r));
      return NULL;
    }
  return devices;
}

/* A read of the whole machine: the reader thread fills @view or @error,
 * the main thread publishes. */
typedef struct {
  Model *model;
  View *view;
  GError *error;
} Reading;

static void
read_in_thread (gpointer data)
{
  Reading *reading = data;
  GPtrArray *devices = read_view_devices (reading->model, &reading->error);

  /* the view runs the grouping rules over the whole machine: here, not
   * on the main loop */
  if (devices)
    reading->view = view_new (devices);
}

static void start_reading (Model *self);

static void
read_done (gpointer data)
{
  g_autofree Reading *reading = data;
  g_autoptr (GError) error = g_steal_pointer (&reading->error);
  Model *self = reading->model;
  gboolean read = reading->view != NULL;

  self->reading = FALSE;
  if (read)
    {
      publish (self, g_steal_pointer (&reading->view));
      self->loaded = TRUE;
      self->failed = FALSE;
    }
  else
    {
      g_warning ("%s", error->message);
      self->failed = TRUE;
    }
  /* what was read for the view and the signals is garbage now */
  malloc_trim (0);
  if (self->closing)
    return;
  /* the waiters want what the machine is now: read again for news that
   * came meanwhile, told or not yet */
  if (self->stale)
    start_reading (self);
  else if (!(read && news_waiting (self)))
    waiters_finish (self, read && self->loaded);
}

static void
start_reading (Model *self)
{
  Reading *reading = g_new0 (Reading, 1);

  reading->model = self;
  self->stale = FALSE;
  self->reading = TRUE;
  offload_push (self->reader, read_in_thread, read_done, reading);
}

/* Something may have changed: read again, now or after the read under way. */
static void
model_changed (Model *self)
{
  if (self->closing)
    return;
  if (self->reading)
    self->stale = TRUE;
  else
    start_reading (self);
}

/* ---- news ---------------------------------------------------------------- */

void
model_set_tracking (Model *self, gboolean tracking)
{
  sysfs_cache_enable (self->cache, tracking);
}

void
model_device_event (Model *self, const char *action, const char *subsystem, const char *sysname)
{
  gboolean plugged =
      strcmp (action, "add") == 0 || strcmp (action, "remove") == 0 || strcmp (action, "move") == 0;

  if (plugged && strcmp (subsystem, "pci") == 0 && sysname)
    sysfs_cache_forget (self->cache, sysname);
  /* a PCI device that came or went takes its block devices and interfaces
   * along; theirs coming and going changes which device they are below */
  if (plugged)
    sysfs_cache_invalidate (self->cache, FALSE, TRUE);
  model_changed (self);
}

void
model_events_lost (Model *self)
{
  sysfs_cache_invalidate (self->cache, TRUE, TRUE);
  model_changed (self);
}

void
model_host_changed (Model *self)
{
  model_changed (self);
}

const Device *
model_device (Model *self, const char *name)
{
  return view_device (self->view, name);
}

gboolean
model_group_usable (Model *self, uint32_t group)
{
  ViewGroup *g = view_group (self->view, group);

  if (g == NULL || !g->viable)
    return FALSE;
  for (guint i = 0; i < g->members->len; i++)
    if (g_strcmp0 (((Device *) g_ptr_array_index (g->members, i))->driver, VFIOD_DRIVER_VFIO_PCI) ==
        0)
      return TRUE;
  return FALSE;
}

void
model_set_changed_callback (Model *self, ModelChangedFunc callback, gpointer user_data)
{
  self->changed = callback;
  self->changed_data = user_data;
}

/* ---- files that are news ------------------------------------------------ */

#define DIR_EVENTS                                                                    \
  (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | \
   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define PARENT_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)

static gboolean
on_files_changed (gint fd, GIOCondition condition, gpointer user_data)
{
  Model *self = user_data;
  char buf[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
  gboolean news = FALSE;
  ssize_t n;

  while ((n = read (fd, buf, sizeof buf)) > 0)
    for (char *p = buf; p < buf + n;
         p += sizeof (struct inotify_event) + ((struct inotify_event *) p)->len)
      {
        const struct inotify_event *e = (const struct inotify_event *) p;
        gboolean parent = FALSE;

        for (gsize i = 0; i < G_N_ELEMENTS (self->watched); i++)
          if (self->watched[i].path && e->wd == self->watched[i].parent)
            {
              parent = TRUE;
              /* the directory itself came or went: watch the new one */
              if (e->len && strcmp (e->name, self->watched[i].name) == 0)
                {
                  inotify_add_watch (fd, self->watched[i].path, DIR_EVENTS);
                  news = TRUE;
                }
            }
        /* the parent's other entries (a log beside the records) are not news */
        if (!parent && !(e->mask & IN_IGNORED))
          news = TRUE;
        if (e->mask & IN_Q_OVERFLOW)
          news = TRUE;
      }
  if (news)
    {
      g_debug ("Persistent records or boot notes changed");
      model_changed (self);
    }
  return G_SOURCE_CONTINUE;
}

/* Records edited by hand and notes the boot helper writes reach no
 * monitor: they are news here (inotify queues the event before the
 * writer's close or rename returns). */
static void
watch_files (Model *self)
{
  const char *paths[G_N_ELEMENTS (self->watched)] = {
    self->records ? records_dir (self->records) : NULL,
    records_notes_dir (),
  };

  self->inotify_fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  if (self->inotify_fd < 0)
    {
      g_warning ("Cannot watch the persistent records (%s): the objects show hand edits "
                 "after the next other change",
                 g_strerror (errno));
      return;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree char *parent = NULL;

      if (paths[i] == NULL)
        continue;
      parent = g_path_get_dirname (paths[i]);
      self->watched[i].path = g_strdup (paths[i]);
      self->watched[i].name = g_path_get_basename (paths[i]);
      self->watched[i].parent = inotify_add_watch (self->inotify_fd, parent, PARENT_EVENTS);
      /* absent until the first record, or after a boot without notes */
      inotify_add_watch (self->inotify_fd, paths[i], DIR_EVENTS);
    }
  self->inotify_source = g_unix_fd_add (self->inotify_fd, G_IO_IN, on_files_changed, self);
}

static void
unwatch_files (Model *self)
{
  g_clear_handle_id (&self->inotify_source, g_source_remove);
  if (self->inotify_fd >= 0)
    close (self->inotify_fd);
  self->inotify_fd = -1;
  for (gsize i = 0; i < G_N_ELEMENTS (self->watched); i++)
    {
      g_clear_pointer (&self->watched[i].path, g_free);
      g_clear_pointer (&self->watched[i].name, g_free);
    }
}

/* ---- reads from the objects ------------------------------------------------ */

/* What the probe finds is news like any other: read again.  (A probe
 * may take it: poll() on /proc/self/mountinfo marks a change seen.) */
static gboolean
files_changed_waiting (Model *self)
{
  struct pollfd p = { .fd = self->inotify_fd, .events = POLLIN };

  return self->inotify_fd >= 0 && poll (&p, 1, 0) > 0 && (p.revents & POLLIN);
}

static gboolean
news_waiting (Model *self)
{
  if (self->closing)
    return FALSE;
  /* the records and notes this model watches itself: read them now (news
   * or not: the parent directory's other entries are not) */
  if (files_changed_waiting (self))
    on_files_changed (self->inotify_fd, G_IO_IN, self);
  if (self->stale || self->reading)
    return TRUE;
  if (self->news == NULL || !self->news (self->news_data))
    return FALSE;
  g_debug ("News is waiting: the objects are read again");
  model_changed (self);
  return TRUE;
}

gboolean
model_is_reading (Model *self)
{
  return self->reading;
}

gboolean
model_is_current (Model *self)
{
  return self->loaded && !self->failed && !self->reading && !self->stale && !self->closing &&
         !news_waiting (self);
}

static void
waiter_finish (Waiter *w, gboolean current)
{
  g_queue_remove (&w->model->waiters, w);
  g_clear_handle_id (&w->idle, g_source_remove);
  g_clear_handle_id (&w->timeout, g_source_remove);
  w->func (current, w->data);
  g_free (w);
}

/* Every waiter: the objects are current (TRUE), or cannot be made so. */
static void
waiters_finish (Model *self, gboolean current)
{
  Waiter *w;

  /* a callback may wait again: that one waits for the next read */
  g_autoptr (GQueue) now = g_queue_copy (&self->waiters);
  while ((w = g_queue_pop_head (now)))
    waiter_finish (w, current);
}

static gboolean
waiter_timed_out (gpointer data)
{
  Waiter *w = data;

  w->timeout = 0;
  g_debug ("The objects were not current after %u ms: a caller reads the machine",
           w->model->wait_ms);
  waiter_finish (w, FALSE);
  return G_SOURCE_REMOVE;
}

/* @w waits for a read: the one under way, or one started now (news is
 * waiting that nobody told the model yet, or no good reading yet). */
static void
waiter_wait (Waiter *w)
{
  Model *self = w->model;

  if (!self->reading)
    start_reading (self);
  if (w->timeout == 0)
    w->timeout = g_timeout_add (self->wait_ms, waiter_timed_out, w);
}

static gboolean
waiter_check (gpointer data)
{
  Waiter *w = data;
  Model *self = w->model;

  w->idle = 0;
  if (self->closing)
    waiter_finish (w, FALSE);
  else if (model_is_current (self))
    waiter_finish (w, TRUE);
  else
    waiter_wait (w);
  return G_SOURCE_REMOVE;
}

void
model_when_current (Model *self, ModelCurrentFunc func, gpointer user_data)
{
  Waiter *w = g_new0 (Waiter, 1);

  *w = (Waiter){ .model = self, .func = func, .data = user_data };
  g_queue_push_tail (&self->waiters, w);
  /* Even when current, answered from the main loop: never inside the
   * caller, and after the news already there when the call came.  The
   * idle is newer than the monitor's sources, of their priority: in the
   * next iteration they are dispatched first (GLib dispatches the ready
   * sources of one priority in the order they were attached), and the
   * idle checks again.  (A lower priority would starve under a steady
   * stream of calls.) */
  if (self->closing || model_is_current (self))
    w->idle = g_idle_add_full (G_PRIORITY_DEFAULT, waiter_check, w, NULL);
  else
    waiter_wait (w);
}

void
model_set_current_timeout (Model *self, guint timeout_ms)
{
  self->wait_ms = timeout_ms;
}

void
model_set_news_probe (Model *self, ModelNewsFunc waiting, gpointer user_data)
{
  self->news = waiting;
  self->news_data = user_data;
}

GPtrArray *
model_view_devices (Model *self)
{
  return self->view->devices;
}

GPtrArray *
model_view_group (Model *self, uint32_t group)
{
  ViewGroup *g = view_group (self->view, group);

  return g ? g->members : NULL;
}

View *
model_ref_view (Model *self)
{
  return view_ref (self->view);
}

/* ---- life ------------------------------------------------------------------ */

void
model_load (Model *self)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *devices = read_view_devices (self, &error);

  if (devices == NULL)
    {
      g_warning ("%s", error->message);
      self->failed = TRUE;
      return;
    }
  /* nobody saw the empty objects (the name is not ours yet): no signals */
  view_free (self->view);
  self->view = view_new (devices);
  self->loaded = TRUE;
  self->failed = FALSE;
  malloc_trim (0);
}

Model *
model_new (sd_bus *bus, Records *records, State *state)
{
  Model *self = g_new0 (Model, 1);
  int r;

  self->cache = sysfs_cache_new ();
  self->hwdb = hwdb_new ();
  self->records = records;
  self->state = state;
  self->view = view_new_empty ();
  self->wait_ms = 2000;
  self->reader = offload_new ("model reader", 1);
  g_queue_init (&self->waiters);
  self->inotify_fd = -1;
  watch_files (self);
  if (bus)
    {
      self->bus = sd_bus_ref (bus);
      r = export(self);
      if (r < 0)
        {
          model_free (self);
          errno = -r;
          return NULL;
        }
    }
  return self;
}

void
model_free (Model *self)
{
  if (self == NULL)
    return;
  /* the worker uses the cache and the hwdb */
  self->closing = TRUE;
  while (self->reading)
    g_main_context_iteration (NULL, TRUE);
  offload_free (self->reader);
  waiters_finish (self, FALSE);
  unwatch_files (self);
  for (gsize i = 0; i < G_N_ELEMENTS (self->slots); i++)
    sd_bus_slot_unref (self->slots[i]);
  if (self->bus)
    sd_bus_unref (self->bus);
  view_free (self->view);
  hwdb_free (self->hwdb);
  sysfs_cache_free (self->cache);
  g_free (self);
}
