/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <inttypes.h>
#include <malloc.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "authz.h"
#include "config.h"
#include "errors.h"
#include "group.h"
#include "access.h"
#include "bootid.h"
#include "grants.h"
#include "isolation.h"
#include "model.h"
#include "monitor.h"
#include "records.h"
#include "settings.h"
#include "sysfs.h"
#include "transaction.h"
#include "use.h"
#include "util.h"
#include "vfio.h"
#include "names.h"

struct Manager {
  sd_bus *bus;
  sd_bus_slot *slot;
  Model *model;     /* the machine as the bus shows it; shared with workers */
  Monitor *monitor; /* keeps the model current */
  State *state;
  Grants *grants;   /* ACL entries given out (thread-safe) */
  Records *records; /* persistent assignments (thread-safe) */
  Authz *authz;
  Settings settings; /* the configuration file, read at start */
  GMutex locks_lock;
  GHashTable *group_locks; /* group → GMutex*: one operation per group at a time */
  guint write_timeout_ms;  /* a sysfs write taking longer is stuck */
  GThreadPool *readers;    /* where the methods' reads run (see manager_read) */
  /* main thread only: */
  GHashTable *authorizing; /* sender → calls of it waiting for polkit */
  GPtrArray *waiting;      /* Call* waiting for polkit (withdrawn on quit) */
  GPtrArray *running;      /* Call* handed to a worker, not done yet */
  GHashTable *stuck;       /* group → Call* whose sysfs write does not return */
  guint working;           /* running calls whose caller still waits */
  guint abandoned;         /* running calls whose caller was answered early */
  guint reading;           /* read jobs queued or running, not done yet */
  gboolean quitting;       /* no new work: moving calls get ShuttingDown */
};

/* ---- device dictionaries --------------------------------------------- */

/* @grants: Grant*, all of them (grants_list (-1)) */
/* {"key": <as>} */
static int
append_strv_entry (sd_bus_message *m, const char *key, char **strv)
{
  static char *none[] = { NULL };
  int r = sd_bus_message_open_container (m, 'e', "sv");

  if (r >= 0)
    r = sd_bus_message_append_basic (m, 's', key);
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'v', "as");
  if (r >= 0)
    r = sd_bus_message_append_strv (m, strv ? strv : none);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  return r;
}

/* @owners: state_owners() */
static int
append_device (sd_bus_message *m, const Device *d, GPtrArray *grants, GHashTable *owners)
{
  gpointer owner;
  int r;

  r = sd_bus_message_open_container (m, 'a', "{sv}");
  if (r < 0)
    return r;

#define ENTRY(key, sig, value)                                \
  do                                                          \
    {                                                         \
      r = sd_bus_message_append (m, "{sv}", key, sig, value); \
      if (r < 0)                                              \
        return r;                                             \
    }                                                         \
  while (0)

  ENTRY (VFIOD_KEY_ADDRESS, "s", d->name);
  if (d->group != DEVICE_NO_GROUP)
    ENTRY (VFIOD_KEY_GROUP, "u", (uint32_t) d->group);
  ENTRY (VFIOD_KEY_VENDOR_ID, "q", d->vendor_id);
  ENTRY (VFIOD_KEY_DEVICE_ID, "q", d->device_id);
  ENTRY (VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q", d->subsystem_vendor_id);
  ENTRY (VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q", d->subsystem_device_id);
  ENTRY (VFIOD_KEY_CLASS, "u", d->class_code);
  ENTRY (VFIOD_KEY_VENDOR, "s", d->vendor);
  ENTRY (VFIOD_KEY_NAME, "s", d->model);
  ENTRY (VFIOD_KEY_DRIVER, "s", d->driver ? d->driver : "");
  ENTRY (VFIOD_KEY_STATE, "s", device_state_to_string (device_state (d)));
  ENTRY (VFIOD_KEY_BRIDGE, "b", (int) device_is_bridge (d));
  ENTRY (VFIOD_KEY_IN_USE, "s", d->in_use ? d->in_use : "");
  /* like granted_uids, only where there is something to say: an entry
   * per device costs a ListDevices of thousands of devices */
  if (d->persistent)
    ENTRY (VFIOD_KEY_PERSISTENT, "s", d->persistent);
  /* who detached it, when vfiod knows (in this boot) */
  if (g_hash_table_lookup_extended (owners, d->name, NULL, &owner))
    ENTRY (VFIOD_KEY_OWNER_UID, "u", (uint32_t) GPOINTER_TO_UINT (owner));
#undef ENTRY
  r = append_strv_entry (m, VFIOD_KEY_RESET_METHODS, d->reset_methods);
  if (r < 0)
    return r;

  /* who may open its group by path (GrantAccess): only when somebody may
   * (almost never; the entry costs a ListDevices of thousands of devices) */
  if (grants->len > 0)
    {
      g_autoptr (GArray) uids = g_array_new (FALSE, FALSE, sizeof (uint32_t));

      for (guint i = 0; i < grants->len; i++)
        {
          const Grant *g = g_ptr_array_index (grants, i);
          g_autofree char *node = NULL;
          uint32_t uid = (uint32_t) g->uid;
          if (g->revoking || d->group == DEVICE_NO_GROUP || g->group != (uint32_t) d->group)
            continue;
          node = access_group_node (g->group);
          if (strcmp (g->path, node) == 0)
            g_array_append_val (uids, uid);
        }
      if (uids->len > 0)
        r = sd_bus_message_open_container (m, 'e', "sv");
      if (r >= 0 && uids->len > 0)
        {
          r = sd_bus_message_append_basic (m, 's', VFIOD_KEY_GRANTED_UIDS);
          if (r >= 0)
            r = sd_bus_message_open_container (m, 'v', "au");
          if (r >= 0)
            r = sd_bus_message_append_array (m, 'u', uids->data, uids->len * sizeof (uint32_t));
          if (r >= 0)
            r = sd_bus_message_close_container (m);
          if (r >= 0)
            r = sd_bus_message_close_container (m);
        }
    }
  if (r < 0)
    return r;

  return sd_bus_message_close_container (m);
}

static int
append_devices (sd_bus_message *m, GPtrArray *devices, Grants *grants, State *state)
{
  g_autoptr (GPtrArray) all = grants_list (grants, -1);
  g_autoptr (GHashTable) owners = state_owners (state);
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && i < devices->len; i++)
    r = append_device (m, g_ptr_array_index (devices, i), all, owners);
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

/* ---- errors naming the device ----------------------------------------- */

static int
error_invalid_address (sd_bus_error *error, const char *text)
{
  g_autofree char *quoted = errors_quote_untrusted (text);

  return sd_bus_error_setf (error, VFIOD_ERROR_INVALID_ADDRESS,
                            "%s is not a PCI address: use dddd:bb:dd.f or bb:dd.f, "
                            "e.g. 0000:03:00.0 (ListDevices lists them all)",
                            quoted);
}

/* NoIommuGroup, worded once for every method. */
static int
error_no_group (sd_bus_error *error, const char *device)
{
  return sd_bus_error_setf (error, VFIOD_ERROR_NO_IOMMU_GROUP,
                            "PCI device %s has no IOMMU group, so VFIO cannot give it to a "
                            "virtual machine: the IOMMU looks off. Enable VT-d or AMD-Vi in "
                            "the firmware setup and boot Intel machines with intel_iommu=on "
                            "(AMD enables it by default), then check /sys/kernel/iommu_groups",
                            device);
}

static int
error_from_sysfs (sd_bus_error *error, const char *device, int r)
{
  if (r == -ENOENT || r == -ENODEV)
    return sd_bus_error_setf (error, VFIOD_ERROR_NO_SUCH_DEVICE,
                              "There is no PCI device %s: check the address with "
                              "ListDevices (or lspci -D)",
                              device);
  if (r == -EBADMSG)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "The kernel's description of PCI device %s in sysfs is "
                              "not what vfiod understands; please report it with the "
                              "output of: cat /sys/bus/pci/devices/%s/uevent",
                              device, device);
  return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                            "Cannot read PCI device %s from sysfs: %s; is /sys "
                            "mounted and readable?",
                            device, g_strerror (-r));
}

/* Parses the device argument: 1 and @address filled, or <0 with @error set. */
static int
read_address_arg (sd_bus_message *m, PciAddress *address, sd_bus_error *error)
{
  const char *text;
  int r = sd_bus_message_read (m, "s", &text);

  if (r < 0)
    return r;
  if (!address_parse (text, address))
    return error_invalid_address (error, text);
  return 1;
}

/* ---- reading off the main loop ------------------------------------------ */

/* Nothing that touches sd-bus may run off the main thread: the bus's
 * reference count is not atomic. */
static void
assert_main_thread (void)
{
  g_assert (g_main_context_is_owner (g_main_context_default ()));
}

/* Every method reads sysfs (and /proc, and the records) before it answers
 * or asks polkit, and such a read can sleep in the kernel: reading a
 * config space resumes a suspended device, a driver can hold an attribute.
 * So the reads run on a pool of VFIOD_READERS reader threads while the main
 * loop goes on answering everybody else; what they read comes back to the
 * main thread, which alone builds and sends replies.  More reads than
 * readers wait in the pool's queue: a crowd of callers costs a queue entry
 * each, not a reading of the whole machine each at once.
 *
 * Threads: a job's data belongs to the main thread, except while a reader
 * runs @read, which writes only the data's results and never touches
 * sd-bus; the main thread looks at those in @done, after the reader
 * returned (the idle source that carries the job back orders the two). */
typedef void (*ReadFunc) (gpointer data);

typedef struct {
  Manager *manager;
  ReadFunc read; /* on a reader */
  ReadFunc done; /* then on the main thread */
  gpointer data;
} ReadJob;

static gboolean
read_job_done (gpointer user_data)
{
  ReadJob *job = user_data;

  assert_main_thread ();
  job->manager->reading--;
  job->done (job->data);
  g_free (job);
  return G_SOURCE_REMOVE;
}

static void
reader_run (gpointer data, gpointer pool_data)
{
  ReadJob *job = data;

  job->read (job->data);
  g_idle_add_full (G_PRIORITY_DEFAULT, read_job_done, job, NULL);
}

/* Runs @read on a reader, then @done on the main thread. */
static void
manager_read (Manager *self, ReadFunc read, ReadFunc done, gpointer data)
{
  ReadJob *job = g_new (ReadJob, 1);
  g_autoptr (GError) error = NULL;

  assert_main_thread ();
  *job = (ReadJob){ .manager = self, .read = read, .done = done, .data = data };
  self->reading++;
  /* queued even when no new thread could be made: a running reader takes it */
  if (!g_thread_pool_push (self->readers, job, &error))
    g_warning ("Cannot start a reader thread (%s): the read waits for a running one",
               error->message);
}

/* ---- the read-only methods ---------------------------------------------- */

typedef enum {
  QUERY_GET_GROUP,
  QUERY_LIST_DEVICES,
  QUERY_EXPLAIN_GROUP,
  QUERY_LIST_PERSISTENT,
} QueryKind;

/* One call of a read-only method.  The reader fills the results (or
 * @error); the main thread then replies from them. */
typedef struct {
  Manager *manager;
  QueryKind kind;
  sd_bus_message *message; /* main thread only */
  PciAddress address;      /* the device asked about, if any */
  char name[ADDRESS_STRLEN];
  /* the reader's results: */
  sd_bus_error error;
  uint32_t group;
  GPtrArray *devices;      /* Device*: the group's, or the machine's */
  const Device *device;    /* explain: the one asked about, in @devices */
  GPtrArray *slots;        /* explain: PciSlot* */
  Isolation *isolation;    /* explain */
  IsolationAdvice *advice; /* explain */
  const GroupCause *cause; /* explain: in @isolation */
  GPtrArray *entries;      /* list-persistent: RecordEntry* */
} Query;

static void
query_free (Query *q)
{
  assert_main_thread ();
  sd_bus_message_unref (q->message);
  sd_bus_error_free (&q->error);
  g_clear_pointer (&q->advice, isolation_advice_free);
  g_clear_pointer (&q->isolation, isolation_free);
  g_clear_pointer (&q->slots, g_ptr_array_unref);
  g_clear_pointer (&q->devices, g_ptr_array_unref);
  g_clear_pointer (&q->entries, g_ptr_array_unref);
  g_free (q);
}

/* Reader: GetGroup. */
static void
query_read_group (Query *q)
{
  g_autofree char *unreadable = NULL;
  int64_t group;
  int r;

  r = sysfs_device_group (&q->address, &group);
  if (r < 0)
    {
      error_from_sysfs (&q->error, q->name, r);
      return;
    }
  if (group == DEVICE_NO_GROUP)
    {
      error_no_group (&q->error, q->name);
      return;
    }
  q->group = (uint32_t) group;
  r = model_read_group (q->manager->model, q->group, &q->devices, &unreadable);
  if (r < 0 || q->devices->len == 0)
    error_from_sysfs (&q->error, unreadable ? unreadable : q->name, r < 0 ? r : -ENOENT);
}

/* Reader: ListDevices. */
static void
query_read_devices (Query *q)
{
  g_autofree char *unreadable = NULL;
  int r = model_read_devices (q->manager->model, &q->devices, &unreadable);

  if (r < 0 && unreadable)
    error_from_sysfs (&q->error, unreadable, r);
  else if (r < 0)
    sd_bus_error_setf (&q->error, VFIOD_ERROR_FAILED,
                       "Cannot list PCI devices in " VFIOD_SYSFS_PCI_DEVICES
                       ": %s; is /sys mounted?",
                       g_strerror (-r));
}

/* Reader: ExplainGroup.  The rules need the whole tree: the ports above
 * the device, the functions beside it. */
static void
query_read_explanation (Query *q)
{
  g_autofree char *unreadable = NULL;
  int r = model_read_devices (q->manager->model, &q->devices, &unreadable);

  if (r < 0)
    {
      error_from_sysfs (&q->error, unreadable ? unreadable : q->name, r);
      return;
    }
  for (guint i = 0; i < q->devices->len && q->device == NULL; i++)
    if (strcmp (((Device *) g_ptr_array_index (q->devices, i))->name, q->name) == 0)
      q->device = g_ptr_array_index (q->devices, i);
  if (q->device == NULL)
    {
      error_from_sysfs (&q->error, q->name, -ENOENT);
      return;
    }
  if (q->device->group == DEVICE_NO_GROUP)
    {
      error_no_group (&q->error, q->name);
      return;
    }
  q->group = (uint32_t) q->device->group;
  q->isolation = isolation_new (q->devices);
  q->slots = sysfs_list_slots ();
  q->advice = isolation_advise (q->isolation, q->name, q->slots);
  q->cause = isolation_group (q->isolation, q->group);
  /* the reading explains every group of its devices: never NULL, but a
   * caller gets an error rather than a crash if that ever breaks */
  if (q->advice == NULL || q->cause == NULL)
    sd_bus_error_setf (&q->error, VFIOD_ERROR_FAILED,
                       "Cannot explain the IOMMU group of %s: it changed while it was "
                       "read; try again",
                       q->name);
}

/* Reader: ListPersistentAssignments.  The records directory (a few small
 * files), matched with the devices as ListDevices reads them (through the
 * model's cache), so a listing right after a DetachDevice shows the
 * drivers it left. */
static void
query_read_persistent (Query *q)
{
  g_autofree char *unreadable = NULL;
  int r;

  q->entries = records_list (q->manager->records);
  r = model_read_devices (q->manager->model, &q->devices, &unreadable);
  if (r < 0)
    sd_bus_error_setf (&q->error, VFIOD_ERROR_FAILED,
                       "Cannot check the persistent assignments against the PCI "
                       "devices: reading %s failed: %s; is /sys mounted?",
                       unreadable ? unreadable : VFIOD_SYSFS_PCI_DEVICES, g_strerror (-r));
}

static void
query_read (gpointer data)
{
  Query *q = data;

  switch (q->kind)
    {
    case QUERY_GET_GROUP: query_read_group (q); break;
    case QUERY_LIST_DEVICES: query_read_devices (q); break;
    case QUERY_EXPLAIN_GROUP: query_read_explanation (q); break;
    case QUERY_LIST_PERSISTENT: query_read_persistent (q); break;
    }
}

static int
append_isolating (sd_bus_message *m, GPtrArray *places)
{
  int r = sd_bus_message_open_container (m, 'e', "sv");

  if (r >= 0)
    r = sd_bus_message_append_basic (m, 's', VFIOD_KEY_ISOLATING_SLOTS);
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'v', "aa{sv}");
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'a', "a{sv}");
  for (guint i = 0; r >= 0 && i < places->len; i++)
    {
      const IsolatingSlot *p = g_ptr_array_index (places, i);
      r = sd_bus_message_open_container (m, 'a', "{sv}");
      if (r >= 0)
        r = sd_bus_message_append (m, "{sv}", VFIOD_KEY_SLOT, "s", p->slot);
      if (r >= 0)
        r = sd_bus_message_append (m, "{sv}", VFIOD_KEY_PORT, "s", p->port);
      if (r >= 0)
        r = append_strv_entry (m, VFIOD_KEY_OCCUPANT, p->occupants);
      if (r >= 0)
        r = sd_bus_message_close_container (m);
    }
  for (int k = 0; r >= 0 && k < 3; k++)
    r = sd_bus_message_close_container (m);
  return r;
}

static int
append_explanation (sd_bus_message *m, const Query *q)
{
  int r = sd_bus_message_open_container (m, 'a', "{sv}");

  if (r >= 0)
    r = sd_bus_message_append (m, "{sv}{sv}{sv}{sv}{sv}{sv}", VFIOD_KEY_GROUP, "u", q->group,
                               VFIOD_KEY_CAUSE, "s", q->cause->cause, VFIOD_KEY_CAUSE_DEVICE, "s",
                               q->cause->cause_device, VFIOD_KEY_EXPLANATION, "s",
                               q->cause->explanation, VFIOD_KEY_ADVICE, "s", q->advice->advice,
                               VFIOD_KEY_RESET_WARNING, "s", q->advice->reset_warning);
  if (r >= 0)
    r = append_strv_entry (m, VFIOD_KEY_RESET_METHODS, q->device->reset_methods);
  if (r >= 0)
    r = append_isolating (m, q->advice->isolating);
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  return r;
}

static int append_assignment (sd_bus_message *m, const RecordEntry *e, const Device *d);

static int
append_assignments (sd_bus_message *m, const Query *q)
{
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  int r;

  for (guint i = 0; i < q->devices->len; i++)
    {
      Device *d = g_ptr_array_index (q->devices, i);
      g_hash_table_insert (by_name, d->name, d);
    }
  r = sd_bus_message_open_container (m, 'a', "a{sv}");
  for (guint i = 0; r >= 0 && i < q->entries->len; i++)
    {
      const RecordEntry *e = g_ptr_array_index (q->entries, i);
      r = append_assignment (m, e, g_hash_table_lookup (by_name, e->address));
    }
  if (r >= 0)
    r = sd_bus_message_close_container (m);
  return r;
}

/* Main thread: the reply, from what the reader read. */
static void
query_done (gpointer data)
{
  Query *q = data;
  Manager *self = q->manager;
  _cleanup_ (sd_bus_message_unrefp) sd_bus_message *reply = NULL;
  gboolean large = q->kind != QUERY_GET_GROUP;
  int r;

  if (sd_bus_error_is_set (&q->error))
    r = sd_bus_reply_method_error (q->message, &q->error);
  else
    {
      r = sd_bus_message_new_method_return (q->message, &reply);
      if (r >= 0)
        switch (q->kind)
          {
          case QUERY_GET_GROUP:
            r = sd_bus_message_append (reply, "u", q->group);
            if (r >= 0)
              r = append_devices (reply, q->devices, self->grants, self->state);
            break;
          case QUERY_LIST_DEVICES:
            r = append_devices (reply, q->devices, self->grants, self->state);
            break;
          case QUERY_EXPLAIN_GROUP: r = append_explanation (reply, q); break;
          case QUERY_LIST_PERSISTENT: r = append_assignments (reply, q); break;
          }
      if (r >= 0)
        r = sd_bus_send (NULL, reply, NULL);
      if (r < 0)
        r = sd_bus_reply_method_errno (q->message, r, NULL);
    }
  if (r < 0)
    g_warning ("Cannot reply to %s: %s", sd_bus_message_get_member (q->message), g_strerror (-r));

  g_clear_pointer (&reply, sd_bus_message_unref);
  query_free (q);
  /* a reading of the whole machine and its reply are megabytes the
   * allocator would otherwise keep: an idle daemon should be small */
  if (large)
    malloc_trim (0);
}

/* Answers @m from a reading: the reply comes later, from the main loop. */
static int
query_start (Manager *self, QueryKind kind, sd_bus_message *m, const PciAddress *address)
{
  Query *q = g_new0 (Query, 1);

  q->manager = self;
  q->kind = kind;
  q->message = sd_bus_message_ref (m);
  q->error = SD_BUS_ERROR_NULL;
  if (address)
    {
      q->address = *address;
      address_format (address, q->name);
    }
  manager_read (self, query_read, query_done, q);
  return 1;
}

static int
method_get_group (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  PciAddress address;
  int r = read_address_arg (m, &address, error);

  return r < 0 ? r : query_start (userdata, QUERY_GET_GROUP, m, &address);
}

static int
method_list_devices (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return query_start (userdata, QUERY_LIST_DEVICES, m, NULL);
}

static int
method_explain_group (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  PciAddress address;
  int r = read_address_arg (m, &address, error);

  return r < 0 ? r : query_start (userdata, QUERY_EXPLAIN_GROUP, m, &address);
}

static int
method_list_persistent (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return query_start (userdata, QUERY_LIST_PERSISTENT, m, NULL);
}

/* ---- detach and reattach ----------------------------------------------- */

static void
group_lock_free (gpointer data)
{
  g_mutex_clear (data);
  g_free (data);
}

static GMutex *
manager_group_lock (Manager *self, uint32_t group)
{
  GMutex *lock;

  g_mutex_lock (&self->locks_lock);
  lock = g_hash_table_lookup (self->group_locks, GUINT_TO_POINTER (group));
  if (lock == NULL)
    {
      lock = g_new0 (GMutex, 1);
      g_mutex_init (lock);
      g_hash_table_insert (self->group_locks, GUINT_TO_POINTER (group), lock);
    }
  g_mutex_unlock (&self->locks_lock);
  return lock;
}

/* One call that may need polkit (a detach or reattach, a use call), from
 * parsing to reply.
 *
 * Threads: a Call is created, authorized, replied to and freed on the
 * main thread, which alone touches its message, its caller tracking and
 * the Manager's tables.  Before polkit, a reader prepares it (the
 * *_prepare functions: group, plan or checks, @settled, @error); after
 * polkit, a worker carries it out (call_work), reading the fields set
 * before it started and writing only @plan, @error and what a use call
 * hands out.  The main thread reads what either wrote only once it
 * returned (in *_prepared and call_done). */
typedef enum {
  CALL_CHANGE, /* DetachDevice, ReattachDevice */
  CALL_OPEN_GROUP,
  CALL_OPEN_DEVICE,
  CALL_GRANT,
  CALL_REVOKE,
  CALL_LOCK_MEMORY,
} CallKind;

typedef struct {
  Manager *manager;
  CallKind kind;
  sd_bus_message *message;
  sd_bus_track *caller; /* while authorizing: tells when the caller leaves */
  GCancellable *cancel; /* the polkit check, withdrawn when the caller leaves */
  gboolean caller_gone;
  char *sender; /* counted in manager->authorizing while set */
  gboolean reattach;
  uint64_t flags;
  PciAddress target;
  uint32_t group;
  TransactionProgress *progress; /* shared with the worker (thread-safe) */
  guint watchdog;                /* while running: checks the write under way */
  gboolean answered;             /* the caller was answered before the worker ended */
  Plan *plan;                    /* as planned (and authorized), then as done */
  gboolean records_changed;      /* the worker wrote or removed persistent assignments */
  const char *actions[3];        /* polkit actions still to check, NULL holes skipped */
  char *details[11];             /* polkit details: key, value pairs, NULL after the last */
  char *what;                    /* "detach 0000:03:00.0", for messages */
  sd_bus_error error;
  uid_t uid;            /* the caller's (euid) */
  gboolean has_owner;   /* the group has an owner (use_group_owner()) ... */
  uid_t owner;          /* ... who detached it */
  gboolean other_asked; /* use-device-other was among the actions checked */
  /* the use calls: */
  int pidfd;        /* lock-memory: our duplicate; -1 otherwise */
  pid_t pid;        /* lock-memory: the pidfd's process */
  uint64_t bytes;   /* lock-memory: the limit asked for */
  int fd;           /* open-group/device: to pass on; -1 otherwise */
  GPtrArray *nodes; /* grant/revoke: Grant* done */
  gboolean settled; /* prepared: answered without polkit (nothing to do, dry run) */
} Call;

static void
call_stop_authorizing (Call *call)
{
  Manager *self = call->manager;
  guint n;

  if (call->sender == NULL)
    return;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->authorizing, call->sender));
  if (n <= 1)
    g_hash_table_remove (self->authorizing, call->sender);
  else
    g_hash_table_insert (self->authorizing, g_strdup (call->sender), GUINT_TO_POINTER (n - 1));
  g_clear_pointer (&call->sender, g_free);
  g_ptr_array_remove_fast (self->waiting, call);
}

static void
call_free (Call *call)
{
  assert_main_thread ();
  call_stop_authorizing (call);
  sd_bus_track_unref (call->caller);
  g_clear_object (&call->cancel);
  if (call->watchdog)
    g_source_remove (call->watchdog);
  transaction_progress_free (call->progress);
  sd_bus_message_unref (call->message);
  plan_free (call->plan);
  if (call->fd >= 0)
    close (call->fd);
  if (call->pidfd >= 0)
    close (call->pidfd);
  if (call->nodes)
    g_ptr_array_unref (call->nodes);
  for (gsize i = 0; i < G_N_ELEMENTS (call->details); i++)
    g_free (call->details[i]);
  g_free (call->what);
  sd_bus_error_free (&call->error);
  g_free (call);
}

static Call *
call_new (Manager *self, CallKind kind, sd_bus_message *m)
{
  Call *call = g_new0 (Call, 1);

  call->manager = self;
  call->kind = kind;
  call->message = sd_bus_message_ref (m);
  call->error = SD_BUS_ERROR_NULL;
  call->cancel = g_cancellable_new ();
  call->fd = -1;
  call->pidfd = -1;
  return call;
}

/* The owner_uid detail: the owner's uid, or "none". */
static char *
owner_detail (const Call *call)
{
  return call->has_owner ? g_strdup_printf ("%u", (unsigned) call->owner)
                         : g_strdup (VFIOD_OWNER_NONE);
}

/* Whether the caller uses another's group: it is not root and not the
 * group's owner (a group nobody owns is another's). */
static gboolean
call_uses_other (const Call *call)
{
  return call->uid != 0 && (!call->has_owner || call->owner != call->uid);
}

/* Sets detail pair @i (0..4) of @call: @key and @value (taken). */
static void
call_detail (Call *call, guint i, const char *key, char *value)
{
  g_assert (2 * i + 1 < G_N_ELEMENTS (call->details) - 1);
  call->details[2 * i] = g_strdup (key);
  call->details[2 * i + 1] = value;
}

static int
append_plan (sd_bus_message *m, const Plan *plan)
{
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);

      r = sd_bus_message_append (m, "a{sv}", 5, VFIOD_KEY_ADDRESS, "s", s->device->name,
                                 VFIOD_KEY_ACTION, "s", plan_action_to_string (s->action),
                                 VFIOD_KEY_FROM, "s", s->from, VFIOD_KEY_TO, "s", s->to,
                                 VFIOD_KEY_REASON, "s", s->reason);
    }
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

static int
reply_plan (sd_bus_message *m, const Plan *plan)
{
  _cleanup_ (sd_bus_message_unrefp) sd_bus_message *reply = NULL;
  int r = sd_bus_message_new_method_return (m, &reply);

  if (r >= 0)
    r = append_plan (reply, plan);
  if (r >= 0)
    r = sd_bus_send (NULL, reply, NULL);
  return r;
}

static int
error_shutting_down (sd_bus_error *error, const char *what)
{
  return sd_bus_error_setf (error, VFIOD_ERROR_SHUTTING_DOWN,
                            "Cannot %s: vfiod is stopping, so nothing was done. Try again in "
                            "a moment (the service starts again when called)",
                            what);
}

/* ---- persistent assignments ---------------------------------------------- */

static gboolean
is_target (const Plan *plan, const Device *d)
{
  return address_equal (&d->address, &plan->target);
}

/* The devices a DetachDevice with PERSISTENT records: those it moves to
 * vfio-pci, and those already there that it was asked for (the target;
 * with GROUP, every endpoint of the group on vfio-pci).  Never a bridge,
 * nor a device left on pci-stub or elsewhere.  Device* of @plan. */
static GPtrArray *
persist_devices (const Plan *plan, uint64_t flags)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; (flags & VFIOD_FLAG_PERSISTENT) && i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);

      if (s->action == PLAN_DETACH ||
          (s->action == PLAN_KEEP && device_state (s->device) == DEVICE_STATE_VFIO &&
           ((flags & VFIOD_FLAG_GROUP) || is_target (plan, s->device))))
        g_ptr_array_add (out, s->device);
    }
  return out;
}

/* Whether ReattachDevice removes a record of one of @devices: the
 * target's, or with GROUP any member's. */
static gboolean
has_records_to_forget (Manager *self, GPtrArray *devices, const PciAddress *target, uint64_t flags)
{
  for (guint i = 0; i < devices->len; i++)
    {
      const Device *d = g_ptr_array_index (devices, i);
      g_autoptr (RecordEntry) e = NULL;

      if (!(flags & VFIOD_FLAG_GROUP) && !address_equal (&d->address, target))
        continue;
      e = records_lookup (self->records, d->name);
      if (e)
        return TRUE;
    }
  return FALSE;
}

/* A ReattachDevice of a device that is not on vfio-pci (booted with
 * vfiod.persistent=0, or its record did not match) is how its persistent
 * assignment is given up: it moves nothing and removes the records. */
static gboolean
reattach_only_forgets (Manager *self, GPtrArray *devices, const PciAddress *target, uint64_t flags)
{
  for (guint i = 0; i < devices->len; i++)
    {
      const Device *d = g_ptr_array_index (devices, i);
      if (address_equal (&d->address, target))
        return device_state (d) != DEVICE_STATE_VFIO &&
               has_records_to_forget (self, devices, target, flags);
    }
  return FALSE;
}

/* Whether the call has records to write or remove, beyond any move. */
static gboolean
call_has_record_work (Call *call, const Plan *plan)
{
  Manager *self = call->manager;
  g_autoptr (GPtrArray) persist = NULL;

  if (call->reattach)
    return has_records_to_forget (self, plan->devices, &plan->target, call->flags);
  persist = persist_devices (plan, call->flags);
  for (guint i = 0; i < persist->len; i++)
    if (!records_up_to_date (self->records, g_ptr_array_index (persist, i), plan->devices))
      return TRUE;
  return FALSE;
}

/* Worker: ReattachDevice gives up the persistent assignments first (a
 * reattach that then fails leaves the devices detached until the next
 * boot, never the other way round). */
static int
call_forget_records (Call *call, const Plan *plan)
{
  Manager *self = call->manager;

  for (guint i = 0; i < plan->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (plan->devices, i);
      g_autoptr (RecordEntry) e = NULL;
      g_autoptr (GError) error = NULL;

      if (!(call->flags & VFIOD_FLAG_GROUP) && !is_target (plan, d))
        continue;
      e = records_lookup (self->records, d->name);
      if (e == NULL)
        continue;
      if (!records_remove (self->records, d->name, &error))
        return sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                                  "Cannot %s: %s; nothing was moved. Is %s writable? (The "
                                  "record can also be deleted by hand)",
                                  call->what, error->message, records_dir (self->records));
      call->records_changed = TRUE;
      g_message ("Removed the persistent assignment of %s", d->name);
    }
  return 0;
}

/* Worker: a DetachDevice with PERSISTENT that moves nothing (the devices
 * are on vfio-pci already) records them. */
static int
call_write_records (Call *call, const Plan *plan, GPtrArray *persist)
{
  Manager *self = call->manager;

  for (guint i = 0; i < persist->len; i++)
    {
      const Device *d = g_ptr_array_index (persist, i);
      g_autoptr (GError) error = NULL;

      if (records_up_to_date (self->records, d, plan->devices))
        continue;
      if (!records_write (self->records, d, plan->devices, &error))
        return sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                                  "Cannot %s: %s. The devices stay on vfio-pci until the next "
                                  "boot; is %s writable?",
                                  call->what, error->message, records_dir (self->records));
      call->records_changed = TRUE;
      g_message ("Recorded %s as a persistent assignment in %s", d->name,
                 records_dir (self->records));
    }
  return 0;
}

static char *
join (GPtrArray *strings, const char *separator)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < strings->len; i++)
    g_string_append_printf (out, "%s%s", i ? separator : "",
                            (char *) g_ptr_array_index (strings, i));
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The planner's refusal, worded for any client: the flags and methods
 * of the bus API, never a command line (vfioctl adds its own hints). */
static int
error_from_refusal (sd_bus_error *error, const PlanRefusal *r)
{
  g_autofree char *devices =
      r->devices ? join (r->devices, r->kind == REFUSAL_IN_USE ? "; " : ", ") : g_strdup ("");

  switch (r->kind)
    {
    case REFUSAL_NO_SUCH_DEVICE:
      return sd_bus_error_setf (error, VFIOD_ERROR_NO_SUCH_DEVICE,
                                "PCI device %s is no longer in IOMMU group %u (removed?): "
                                "list the devices again (ListDevices) and check the address",
                                r->target, r->group);
    case REFUSAL_NOT_ASSIGNABLE:
      return sd_bus_error_setf (error, VFIOD_ERROR_NOT_ASSIGNABLE,
                                "%s is a bridge: bridges cannot be assigned to a virtual "
                                "machine. Pick a device of its IOMMU group %u instead "
                                "(GetGroup lists them)",
                                r->target_text, r->group);
    case REFUSAL_NOT_VIABLE:
      return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_NOT_VIABLE,
                                "Cannot detach %s alone: IOMMU group %u also holds %s, "
                                "still used by the host. A group is only usable by a "
                                "virtual machine once all its devices are off the host: "
                                "detach the whole group (the GROUP flag), or move the card "
                                "to a slot with its own group",
                                r->target, r->group, devices);
    case REFUSAL_IN_USE:
      if (r->doubt)
        return sd_bus_error_setf (error, VFIOD_ERROR_DEVICE_IN_USE,
                                  "%s. vfiod does not detach what it cannot check: let it "
                                  "read what it could not, or check by hand that the host "
                                  "does not use it (findmnt, swapon --show, ip address) and "
                                  "ask again with the FORCE flag if you are sure",
                                  devices);
      return sd_bus_error_setf (error, VFIOD_ERROR_DEVICE_IN_USE,
                                "%s. Detaching would take it away from the host: stop using "
                                "it first (unmount, swapoff, take the link down), or ask "
                                "again with the FORCE flag if you are sure",
                                devices);
    case REFUSAL_NOT_DETACHED:
      return sd_bus_error_setf (error, VFIOD_ERROR_NOT_DETACHED,
                                "%s is not on " VFIOD_DRIVER_VFIO_PCI ": there is nothing "
                                "to give back to the host%s",
                                r->target_text,
                                r->group_mode ? "; reattach the group by one of its devices "
                                                "on vfio-pci (GetGroup shows them)"
                                              : "");
    case REFUSAL_NONE: break;
    }
  return sd_bus_error_set_errno (error, EINVAL);
}

/* Reads the group of @call->target and plans: 0, or <0 with @error set.
 * Runs on a reader before polkit (reads only) and again, under the
 * group's lock, on the worker. */
static int
call_plan (Call *call, Plan **out, sd_bus_error *error)
{
  Manager *self = call->manager;
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GHashTable) originals = NULL;
  g_auto (PlanRefusal) refusal = { 0 };
  g_autofree char *unreadable = NULL;
  char name[ADDRESS_STRLEN];
  int64_t group;
  int r;

  address_format (&call->target, name);
  r = sysfs_device_group (&call->target, &group);
  if (r < 0)
    return error_from_sysfs (error, name, r);
  if (group == DEVICE_NO_GROUP)
    return error_no_group (error, name);
  call->group = (uint32_t) group;

  r = model_read_group (self->model, call->group, &devices, &unreadable);
  if (r < 0)
    return error_from_sysfs (error, unreadable ? unreadable : name, r);

  if (!call->reattach)
    {
      r = group_plan_detach (g_steal_pointer (&devices), call->group, &call->target, call->flags,
                             out, &refusal);
      return r < 0 ? error_from_refusal (error, &refusal) : 0;
    }
  if (reattach_only_forgets (self, devices, &call->target, call->flags))
    {
      *out = group_plan_keep (g_steal_pointer (&devices), call->group, &call->target,
                              "not on " VFIOD_DRIVER_VFIO_PCI
                              "; only its persistent assignment is removed");
      return 0;
    }
  originals = state_originals (self->state, devices, FALSE);
  r = group_plan_reattach (g_steal_pointer (&devices), call->group, &call->target, call->flags,
                           originals, out, &refusal);
  return r < 0 ? error_from_refusal (error, &refusal) : 0;
}

/* The use calls' work, under the group's lock: check again (things may
 * have moved while polkit asked), then act. */
static void
call_use (Call *call, const char *name)
{
  Manager *self = call->manager;
  g_autoptr (GPtrArray) members = NULL;
  g_autofree char *unreadable = NULL;
  int r;

  if (call->kind == CALL_LOCK_MEMORY)
    {
      uint64_t before = 0, after = 0;
      g_autofree char *size = access_format_size (call->bytes);

      r = access_raise_memlock (call->pidfd, call->pid, call->bytes, &before, &after);
      if (r == -ESRCH)
        sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                           "Process %d exited before its locked-memory limit was raised: nothing "
                           "to do; start it again",
                           (int) call->pid);
      else if (r < 0)
        sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                           "Cannot raise the locked-memory limit of process %d to %s: %s",
                           (int) call->pid, size, g_strerror (-r));
      else
        g_message ("Locked-memory limit of process %d (uid %u): %" G_GUINT64_FORMAT
                   " -> %" G_GUINT64_FORMAT " bytes",
                   (int) call->pid, (unsigned) call->uid, before, after);
      return;
    }

  if (call->kind == CALL_REVOKE)
    {
      /* root takes back everybody's; a user only their own */
      use_revoke (self->grants, call->group, call->uid == 0 ? (uid_t) -1 : call->uid, call->what,
                  &call->nodes, &call->error);
      return;
    }

  r = model_read_group (self->model, call->group, &members, &unreadable);
  if (r < 0)
    {
      error_from_sysfs (&call->error, unreadable ? unreadable : name, r);
      return;
    }
  if (use_check (members, name, call->group, &call->error) < 0)
    return;
  {
    /* the owner may have changed while polkit asked (reattached, then
     * detached by another user) */
    g_autoptr (GHashTable) owners = state_owners (self->state);

    call->has_owner = use_group_owner (members, owners, &call->owner);
    if (call_uses_other (call) && !call->other_asked)
      {
        sd_bus_error_setf (&call->error, SD_BUS_ERROR_ACCESS_DENIED,
                           "Cannot %s: IOMMU group %u was detached by %s while this was being "
                           "authorized, so using it now needs " VFIOD_ACTION_USE_DEVICE_OTHER
                           "; nothing was done",
                           call->what, call->group,
                           call->has_owner ? "another user" : "somebody vfiod does not know");
        return;
      }
  }
  switch (call->kind)
    {
    case CALL_OPEN_GROUP: use_open_group (call->group, name, &call->fd, &call->error); break;
    case CALL_OPEN_DEVICE: use_open_device (name, &call->fd, &call->error); break;
    case CALL_GRANT:
      use_grant (self->grants, members, call->group, call->uid, name, &call->nodes, &call->error);
      break;
    default: g_assert_not_reached ();
    }
}

/* The worker: under the group's lock, plan again (things may have moved
 * while polkit asked), check that the new plan is what was authorized,
 * then carry it out. */
static void
call_work (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Call *call = task_data;
  Manager *self = call->manager;
  GMutex *lock;
  g_autoptr (Plan) plan = NULL;
  char name[ADDRESS_STRLEN];

  /* a process, not a group: no group's lock to take */
  if (call->kind == CALL_LOCK_MEMORY)
    {
      call_use (call, NULL);
      g_task_return_boolean (task, TRUE);
      return;
    }

  lock = manager_group_lock (self, call->group);
  address_format (&call->target, name);
  g_mutex_lock (lock);

  /* answered while it waited for the lock (the group is stuck): nothing to do */
  if (transaction_progress_abandoned (call->progress))
    goto out;

  if (call->kind != CALL_CHANGE)
    {
      call_use (call, name);
      goto out;
    }

  if (call_plan (call, &plan, &call->error) < 0)
    goto out;

  if (plan_count_moves (plan) > 0 && !plan_covered_by (plan, call->plan))
    {
      sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                         "IOMMU group %u of %s changed while waiting for authorization: "
                         "nothing was done; look at the group again (GetGroup) and retry",
                         call->group, name);
      goto out;
    }

  /* A reattach checks before it changes anything: holders first (an
   * unbind under an open device fd waits in the kernel, uninterruptibly),
   * then the grants, then sysfs.  A refused reattach leaves the VM owner's
   * ACL entries as they were. */
  if (plan_count_moves (plan) > 0 && call->reattach)
    {
      g_autofree char *holders = vfio_group_holders (call->group);
      if (holders)
        {
          sd_bus_error_setf (&call->error, VFIOD_ERROR_GROUP_BUSY,
                             "IOMMU group %u of %s is open by %s, most likely a running "
                             "virtual machine: nothing was touched. Shut the VM down or "
                             "detach the device from it first",
                             call->group, name, holders);
          goto out;
        }
    }

  /* the host takes the group back: nobody may open it by path any more */
  if (plan_count_moves (plan) > 0 && call->reattach &&
      use_revoke (self->grants, call->group, (uid_t) -1, call->what, NULL, &call->error) < 0)
    goto out;

  if (plan_count_moves (plan) > 0 && !call->reattach)
    {
      g_autofree char *message = NULL;
      if (!vfio_load (&message))
        {
          sd_bus_error_setf (&call->error, VFIOD_ERROR_VFIO_UNAVAILABLE,
                             "Cannot detach %s: the vfio-pci driver is not available (%s). "
                             "vfiod.service loads it at start (modprobe@vfio_pci.service): "
                             "install the kernel's VFIO modules (CONFIG_VFIO_PCI), check "
                             "dmesg, then restart vfiod.service; nothing was changed",
                             name, message);
          goto out;
        }
    }

  if (call->reattach && call_forget_records (call, plan) < 0)
    goto out;

  {
    g_autoptr (GPtrArray) persist = call->reattach ? NULL : persist_devices (plan, call->flags);
    int r = 0;

    if (plan_count_moves (plan) == 0 && persist && call_write_records (call, plan, persist) < 0)
      goto out;
    /* what a detach moves is its caller's: recorded with the originals */
    if (!call->reattach)
      state_expect_owner (self->state, call->group, call->uid);
    if (plan_count_moves (plan) > 0)
      r = transaction_run (self->state, self->records, plan, persist, call->progress, &call->error);
    if (!call->reattach)
      state_clear_owner (self->state, call->group);
    if (r < 0)
      goto out;
    if (plan_count_moves (plan) > 0 && persist && persist->len > 0)
      call->records_changed = TRUE;
  }

  plan_free (call->plan);
  call->plan = g_steal_pointer (&plan);

out:
  g_mutex_unlock (lock);
  g_task_return_boolean (task, TRUE);
}

static int
append_nodes (sd_bus_message *m, GPtrArray *nodes)
{
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && nodes && i < nodes->len; i++)
    {
      const Grant *g = g_ptr_array_index (nodes, i);
      r = sd_bus_message_append (m, "a{sv}", 2, VFIOD_KEY_PATH, "s", g->path, VFIOD_KEY_UID, "u",
                                 (uint32_t) g->uid);
    }
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

/* The success reply of each kind of call. */
static int
call_reply (Call *call)
{
  _cleanup_ (sd_bus_message_unrefp) sd_bus_message *reply = NULL;
  int r;

  if (call->kind == CALL_CHANGE)
    return reply_plan (call->message, call->plan);
  r = sd_bus_message_new_method_return (call->message, &reply);
  if (r < 0)
    return r;
  switch (call->kind)
    {
    case CALL_OPEN_GROUP:
      /* 'h' duplicates it into the message; ours is closed with the call */
      r = sd_bus_message_append (reply, "uh", call->group, call->fd);
      break;
    case CALL_OPEN_DEVICE: r = sd_bus_message_append (reply, "h", call->fd); break;
    case CALL_GRANT:
    case CALL_REVOKE: r = append_nodes (reply, call->nodes); break;
    default: break;
    }
  if (r >= 0)
    r = sd_bus_send (NULL, reply, NULL);
  return r;
}

/* Back on the main thread: the worker is done with @call. */
static void
call_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  Call *call = user_data;
  Manager *self = call->manager;
  int r;

  g_ptr_array_remove_fast (self->running, call);
  /* what it moved shows in the objects even without device events */
  if (call->kind == CALL_CHANGE && call->plan &&
      (plan_count_moves (call->plan) > 0 || call->records_changed))
    model_host_changed (self->model);
  /* the copies the initramfs hook and the dracut module took are stale */
  if (call->records_changed)
    g_message ("Persistent assignments changed in %s: if the initramfs carries them, "
               "rebuild it (update-initramfs -u, or dracut -f) so the next boot follows",
               records_dir (self->records));
  if (g_hash_table_lookup (self->stuck, GUINT_TO_POINTER (call->group)) == call)
    {
      g_hash_table_remove (self->stuck, GUINT_TO_POINTER (call->group));
      g_message ("IOMMU group %u is no longer busy: the stuck write of the %s returned",
                 call->group, call->what);
    }

  if (call->answered)
    {
      /* its caller was told long ago; only the log hears how it ended */
      if (sd_bus_error_is_set (&call->error))
        g_message ("The %s answered early has ended: %s", call->what, call->error.message);
      else
        g_message ("The %s answered early has ended with nothing done", call->what);
      self->abandoned--;
      call_free (call);
      return;
    }

  if (sd_bus_error_is_set (&call->error))
    r = sd_bus_reply_method_error (call->message, &call->error);
  else
    r = call_reply (call);
  if (r < 0)
    g_warning ("Cannot reply to %s: %s", call->what, g_strerror (-r));
  self->working--;
  call_free (call);
}

/* "IOMMU group 5 is busy: unbinding 0000:00:14.0 from xhci_hcd has not
 * returned for 42 s" (for @stuck, the call whose write does not return). */
static char *
stuck_describe (Call *stuck)
{
  gint64 since = 0;
  g_autofree char *current = transaction_progress_current (stuck->progress, &since);

  return g_strdup_printf ("IOMMU group %u is busy: %s has not returned for %" G_GINT64_FORMAT
                          " s (the driver seems stuck; journalctl -k shows its messages)",
                          stuck->group, current ? current : "a write to sysfs",
                          (g_get_monotonic_time () - since) / G_USEC_PER_SEC);
}

/* Answers @call's caller now and lets its worker end on its own. */
static void
call_answer_early (Call *call, const sd_bus_error *error)
{
  Manager *self = call->manager;

  transaction_progress_abandon (call->progress);
  if (sd_bus_reply_method_error (call->message, error) < 0)
    g_warning ("Cannot reply to %s", call->what);
  call->answered = TRUE;
  self->working--;
  self->abandoned++;
}

static int
error_group_busy (sd_bus_error *error, Call *stuck, const char *what)
{
  g_autofree char *busy = stuck_describe (stuck);

  return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_BUSY,
                            "Cannot %s: %s. Nothing was done; try again once it has returned", what,
                            busy);
}

/* Bounded waiting: a sysfs write that has not returned after
 * write_timeout_ms (a driver stuck in its remove) is reported to the
 * caller, naming the device and driver; the group stays locked (the write
 * cannot be taken back) and busy for everybody else, and once the write
 * returns the worker rolls back what it did.  Calls queued behind it on
 * the group's lock are answered too.  Runs only while the call does. */
static gboolean
call_watchdog (gpointer user_data)
{
  Call *call = user_data;
  Manager *self = call->manager;
  gint64 limit = (gint64) self->write_timeout_ms * 1000;
  gint64 now = g_get_monotonic_time (), since = 0;
  g_autofree char *current = transaction_progress_current (call->progress, &since);
  Call *stuck = g_hash_table_lookup (self->stuck, GUINT_TO_POINTER (call->group));
  sd_bus_error error = SD_BUS_ERROR_NULL;

  call->watchdog = 0;
  if (current != NULL && now - since >= limit)
    {
      g_warning ("%s has not returned after %" G_GINT64_FORMAT " s: answering the caller of %s; "
                 "IOMMU group %u stays busy until it returns",
                 current, (now - since) / G_USEC_PER_SEC, call->what, call->group);
      sd_bus_error_setf (&error, VFIOD_ERROR_TIMED_OUT,
                         "Cannot %s: %s has not returned after %" G_GINT64_FORMAT " s (the "
                         "driver seems stuck removing the device; journalctl -k shows its "
                         "messages). Nothing more will be done: once the write returns, vfiod "
                         "puts back every device of IOMMU group %u it moved (or does so at its "
                         "next start), and until then the group is busy",
                         call->what, current, (now - since) / G_USEC_PER_SEC, call->group);
      call_answer_early (call, &error);
      sd_bus_error_free (&error);
      g_hash_table_insert (self->stuck, GUINT_TO_POINTER (call->group), call);

      /* calls waiting for the group's lock behind it would wait as long */
      for (guint i = 0; i < self->running->len; i++)
        {
          Call *other = g_ptr_array_index (self->running, i);
          g_autofree char *writing = NULL;

          if (other == call || other->kind == CALL_LOCK_MEMORY || other->group != call->group ||
              other->answered)
            continue;
          writing = transaction_progress_current (other->progress, NULL);
          if (writing)
            continue;
          error_group_busy (&error, call, other->what);
          call_answer_early (other, &error);
          sd_bus_error_free (&error);
        }
      return G_SOURCE_REMOVE;
    }
  if (current == NULL && stuck != NULL && stuck != call && !call->answered)
    {
      error_group_busy (&error, stuck, call->what);
      call_answer_early (call, &error);
      sd_bus_error_free (&error);
      return G_SOURCE_REMOVE;
    }
  if (call->answered)
    return G_SOURCE_REMOVE;

  /* look again when the write under way would be late */
  call->watchdog = g_timeout_add (current ? (guint) ((limit - (now - since)) / 1000) + 1
                                          : self->write_timeout_ms,
                                  call_watchdog, call);
  return G_SOURCE_REMOVE;
}

static void call_authorize_next (Call *call);

static void
on_authorized (gboolean allowed, const sd_bus_error *error, gpointer user_data)
{
  Call *call = user_data;
  sd_bus_error stopping = SD_BUS_ERROR_NULL;

  if (call->caller_gone)
    {
      /* nobody is waiting for the answer: whatever polkit said, do nothing */
      g_message ("Dropped the request to %s: its caller left while it was being authorized",
                 call->what);
      call_free (call);
      return;
    }
  if (call->manager->quitting)
    {
      error_shutting_down (&stopping, call->what);
      sd_bus_reply_method_error (call->message, &stopping);
      sd_bus_error_free (&stopping);
      call_free (call);
      return;
    }
  if (!allowed)
    {
      g_message ("Refused to %s: %s", call->what, error->message);
      sd_bus_reply_method_error (call->message, error);
      call_free (call);
      return;
    }
  call_authorize_next (call);
}

/* Asks polkit for each action in turn; then hands the call to a worker. */
static void
call_authorize_next (Call *call)
{
  Manager *self = call->manager;
  Call *stuck;
  GTask *task;

  for (gsize i = 0; i < G_N_ELEMENTS (call->actions); i++)
    {
      const char *action = call->actions[i];
      if (action)
        {
          call->actions[i] = NULL;
          authz_check_async (call->manager->authz, call->message, action,
                             (const char *const *) call->details, call->what, call->cancel,
                             on_authorized, call);
          return;
        }
    }

  call_stop_authorizing (call);
  g_clear_pointer (&call->caller, sd_bus_track_unref);

  /* a locked-memory call concerns a process, not a group */
  stuck = call->kind == CALL_LOCK_MEMORY
              ? NULL
              : g_hash_table_lookup (self->stuck, GUINT_TO_POINTER (call->group));
  if (stuck)
    {
      /* it got stuck while this one waited for polkit */
      sd_bus_error error = SD_BUS_ERROR_NULL;
      error_group_busy (&error, stuck, call->what);
      sd_bus_reply_method_error (call->message, &error);
      sd_bus_error_free (&error);
      call_free (call);
      return;
    }

  self->working++;
  call->progress = transaction_progress_new ();
  g_ptr_array_add (self->running, call);
  /* only transactions write to sysfs, where a write may never return */
  if (call->kind == CALL_CHANGE)
    call->watchdog = g_timeout_add (self->write_timeout_ms, call_watchdog, call);
  /* the task does not own @call: call_done() frees it, on this thread */
  task = g_task_new (NULL, NULL, call_done, call);
  g_task_set_task_data (task, call, NULL);
  g_task_run_in_thread (task, call_work);
  g_object_unref (task);
}

static int
on_caller_gone (sd_bus_track *track, void *userdata)
{
  Call *call = userdata;

  g_message ("The caller of %s left the bus: withdrawing the authorization check", call->what);
  call->caller_gone = TRUE;
  g_cancellable_cancel (call->cancel);
  return 0;
}

/* Counts @call as waiting for polkit for its sender, and watches the
 * sender: 0, or <0 with @error set when the sender has too many waiting. */
static int
call_start_authorizing (Call *call, sd_bus_error *error)
{
  Manager *self = call->manager;
  const char *sender = sd_bus_message_get_sender (call->message);
  guint n;
  int r;

  if (sender == NULL)
    return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                              "Cannot %s: the caller cannot be identified on the bus", call->what);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->authorizing, sender));
  if (n >= VFIOD_MAX_PENDING_AUTHORIZATIONS)
    return sd_bus_error_setf (error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                              "Cannot %s: %u requests of this caller (%s) are already waiting "
                              "for authorization. Answer or cancel those first",
                              call->what, n, sender);

  r = sd_bus_track_new (sd_bus_message_get_bus (call->message), &call->caller, on_caller_gone,
                        call);
  if (r >= 0)
    r = sd_bus_track_add_sender (call->caller, call->message);
  if (r < 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                              "Cannot %s: cannot watch the caller on the bus (%s)", call->what,
                              g_strerror (-r));

  call->sender = g_strdup (sender);
  g_hash_table_insert (self->authorizing, g_strdup (sender), GUINT_TO_POINTER (n + 1));
  g_ptr_array_add (self->waiting, call);
  return 0;
}

/* The action ReattachDevice needs: a whole group, or a device vfiod did
 * not detach itself (no record: bound by an admin's boot configuration),
 * takes more than giving back one device vfiod detached. */
static const char *
reattach_action (Manager *self, const Plan *plan, uint64_t flags)
{
  g_autoptr (GHashTable) originals = NULL;

  if (flags & VFIOD_FLAG_GROUP)
    return VFIOD_ACTION_REATTACH_GROUP;
  /* what vfiod detached in this boot: a record of an earlier one may
   * cover what the admin's boot configuration bound since */
  originals = state_originals (self->state, plan->devices, TRUE);
  for (guint i = 0; i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (s->action != PLAN_KEEP && !g_hash_table_contains (originals, s->device->name))
        return VFIOD_ACTION_REATTACH_GROUP;
    }
  return VFIOD_ACTION_REATTACH_DEVICE;
}

/* Answers @call's caller with @error (taken), or errno @r when @error is
 * not set, and frees the call. */
static void
call_refuse (Call *call, sd_bus_error *error, int r)
{
  if (sd_bus_error_is_set (error))
    r = sd_bus_reply_method_error (call->message, error);
  else
    r = sd_bus_reply_method_errno (call->message, r, NULL);
  if (r < 0)
    g_warning ("Cannot reply to %s: %s", sd_bus_message_get_member (call->message),
               g_strerror (-r));
  sd_bus_error_free (error);
  call_free (call);
}

/* Main thread, after a reader prepared @call: answers and frees it when
 * it is refused or settled (TRUE); FALSE when polkit must be asked. */
static gboolean
call_answer_prepared (Call *call)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r;

  if (sd_bus_error_is_set (&call->error))
    {
      error = call->error;
      call->error = SD_BUS_ERROR_NULL;
      call_refuse (call, &error, -EIO);
      return TRUE;
    }
  if (!call->settled)
    return FALSE;
  r = call_reply (call);
  if (r < 0)
    call_refuse (call, &error, r);
  else
    call_free (call);
  return TRUE;
}

/* Reader: plans, and says whether the call is settled without polkit
 * (refused, nothing to do, or only asked what would be done). */
static void
change_prepare (gpointer data)
{
  Call *call = data;

  if (call_plan (call, &call->plan, &call->error) < 0)
    return;
  call->settled =
      (plan_count_moves (call->plan) == 0 && !call_has_record_work (call, call->plan)) ||
      (call->flags & VFIOD_FLAG_DRY_RUN);
  if (!call->settled && call->reattach)
    {
      g_autoptr (GHashTable) owners = state_owners (call->manager->state);

      call->actions[0] = reattach_action (call->manager, call->plan, call->flags);
      call->has_owner = use_group_owner (call->plan->devices, owners, &call->owner);
    }
}

/* Main thread: answers a settled call, or asks polkit. */
static void
change_prepared (gpointer data)
{
  Call *call = data;
  Manager *self = call->manager;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  const Plan *plan = call->plan;
  char name[ADDRESS_STRLEN];
  Call *stuck;
  int r;

  if (call_answer_prepared (call))
    return;

  address_format (&call->target, name);
  {
    g_autoptr (GPtrArray) persist = persist_devices (plan, call->flags);
    gboolean others = plan_moves_others (plan);

    for (guint i = 0; i < persist->len; i++)
      others = others || !is_target (plan, g_ptr_array_index (persist, i));
    call->what = g_strdup_printf ("%s %s%s%s", call->reattach ? "reattach" : "detach", name,
                                  others ? " and the rest of its IOMMU group" : "",
                                  (call->flags & VFIOD_FLAG_PERSISTENT) ? " persistently" : "");
    if (!call->reattach)
      call->actions[0] = others ? VFIOD_ACTION_DETACH_GROUP : VFIOD_ACTION_DETACH_DEVICE;
  }
  if (self->quitting)
    {
      call_refuse (call, &error, error_shutting_down (&error, call->what));
      return;
    }
  stuck = g_hash_table_lookup (self->stuck, GUINT_TO_POINTER (call->group));
  if (stuck)
    {
      call_refuse (call, &error, error_group_busy (&error, stuck, call->what));
      return;
    }

  call_detail (call, 0, VFIOD_DETAIL_DEVICE, g_strdup (name));
  call_detail (call, 1, VFIOD_DETAIL_GROUP, g_strdup_printf ("%u", call->group));
  call_detail (call, 2, VFIOD_DETAIL_DEVICES, plan_moved_addresses (plan));
  /* a rule may let users give back what they detached themselves */
  if (call->reattach)
    call_detail (call, 3, VFIOD_DETAIL_OWNER_UID, owner_detail (call));
  if (!call->reattach)
    {
      /* the dialog says when the devices stay the VMs' at every boot */
      call_detail (call, 3, VFIOD_DETAIL_PERSISTENT,
                   g_strdup ((call->flags & VFIOD_FLAG_PERSISTENT) ? "yes" : "no"));
      /* PERSISTENT takes the devices from the host at every boot, in the
       * initramfs too: an action of its own on top, so a rule that lets
       * users detach for a VM does not let them do that */
      if (call->flags & VFIOD_FLAG_PERSISTENT)
        call->actions[1] = VFIOD_ACTION_DETACH_PERSISTENT;
      /* FORCE on a device the host uses: the strongest say, on top */
      if (plan_moves_in_use (plan))
        call->actions[2] = VFIOD_ACTION_DETACH_IN_USE;
    }

  r = call_start_authorizing (call, &error);
  if (r < 0)
    {
      call_refuse (call, &error, r);
      return;
    }
  call_authorize_next (call);
}

static int caller_uid (sd_bus_message *m, uid_t *uid, sd_bus_error *error);

/* Checks the arguments here; the plan is read on a reader
 * (change_prepare), and the answer or polkit comes after it. */
static int
method_change (sd_bus_message *m, Manager *self, gboolean reattach, sd_bus_error *error)
{
  uint64_t allowed_flags = reattach ? VFIOD_REATTACH_FLAGS_ALL : VFIOD_DETACH_FLAGS_ALL;
  PciAddress target;
  const char *text;
  uint64_t flags;
  Call *call;
  int r;

  r = sd_bus_message_read (m, "st", &text, &flags);
  if (r < 0)
    return r;
  if (flags & ~allowed_flags)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "Unknown flags 0x%" PRIx64 ": %s takes GROUP (0x1), DRY_RUN "
                              "(0x2)%s",
                              flags & ~allowed_flags,
                              reattach ? VFIOD_METHOD_REATTACH_DEVICE : VFIOD_METHOD_DETACH_DEVICE,
                              reattach ? "" : ", FORCE (0x4) and PERSISTENT (0x8)");
  if (!address_parse (text, &target))
    return error_invalid_address (error, text);

  call = call_new (self, CALL_CHANGE, m);
  call->reattach = reattach;
  call->flags = flags;
  call->target = target;
  /* a detach records who made it (the devices' owner) */
  r = caller_uid (m, &call->uid, error);
  if (r < 0)
    {
      call_free (call);
      return r;
    }
  manager_read (self, change_prepare, change_prepared, call);
  return 1;
}

static int
method_detach_device (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return method_change (m, userdata, FALSE, error);
}

static int
method_reattach_device (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return method_change (m, userdata, TRUE, error);
}

/* ---- using a detached group without root -------------------------------- */

typedef enum {
  GRANT_KEEP,      /* nothing to do (yet) */
  GRANT_FORGOTTEN, /* its record is gone, no ACL touched */
  GRANT_REAPPLY,   /* its entry is to be added again */
  GRANT_REVOKE,    /* to be taken back */
} GrantVerdict;

static void
array_unref_maybe (gpointer array)
{
  if (array)
    g_ptr_array_unref (array);
}

/* At start: a grant is given again only when it is of this boot, its
 * node is one the group has now, and the group's members now are the
 * devices it was granted on.  @read caches each group's [members, nodes].
 * Reads sysfs (the group, its members' cdevs): at start only, before the
 * main loop runs, as model_load() does. */
static GrantVerdict
reconcile_grant_at_start (Manager *self, const Grant *g, const char *boot_id, GHashTable *read)
{
  GPtrArray *pair, *members, *nodes;
  g_autofree char *why = NULL;

  if (!grant_of_boot (g, boot_id))
    {
      /* the numbers of another boot name nothing of this one: the old
       * node went with that boot, and the same path may be another
       * device's now */
      use_forget_stale (self->grants, g,
                        g->boot_id ? "granted in another boot"
                                   : "recorded without a boot id, by an older vfiod");
      return GRANT_FORGOTTEN;
    }
  pair = g_hash_table_lookup (read, GUINT_TO_POINTER (g->group));
  if (pair == NULL)
    {
      GPtrArray *m = NULL, *n = NULL;
      int r = use_current_nodes (g->group, &m, &n);

      if (r < 0)
        g_warning ("Cannot read IOMMU group %u to check its grants: %s; none is given again",
                   g->group, g_strerror (-r));
      pair = g_ptr_array_new_with_free_func (array_unref_maybe);
      g_ptr_array_add (pair, r < 0 ? NULL : m);
      g_ptr_array_add (pair, r < 0 ? NULL : n);
      g_hash_table_insert (read, GUINT_TO_POINTER (g->group), pair);
    }
  members = g_ptr_array_index (pair, 0);
  nodes = g_ptr_array_index (pair, 1);
  if (nodes == NULL)
    return GRANT_KEEP; /* unreadable: the record stays, for a later revoke */
  if (!use_nodes_have (nodes, g->path))
    {
      use_forget_stale (self->grants, g, "not a node of the group's members now");
      return GRANT_FORGOTTEN;
    }
  if (g->revoking || !model_group_usable (self->model, g->group))
    return GRANT_REVOKE;
  if (!grant_members_match (g, members, &why))
    {
      g_message ("IOMMU group %u is not what uid %u was granted (%s): not giving %s back", g->group,
                 (unsigned) g->uid, why, g->path);
      return GRANT_REVOKE;
    }
  return GRANT_REAPPLY;
}

/* Puts the grants in order with the machine as the objects show it now:
 * takes back every grant whose group a virtual machine can no longer use
 * (reattached by anybody, hot removed, a member back on a host driver)
 * and finishes every revoke a crash interrupted.  At start (@reapply),
 * first forgets the grants of another boot (touching nothing: their
 * numbers name other nodes now) and those of nodes the group does not
 * have now, takes back those of a group whose members are not the
 * devices granted, and adds again the entries of the grants that hold
 * (a crash after a grant was recorded may have come before its entry was
 * added).  Taking back acts only on the nodes the group has now
 * (use_revoke), and a user's grants on a group are taken back whole
 * before any is given again.  Main thread: the ACL changes are a few
 * setxattr() calls on device nodes, which do not block. */
static void
reconcile_grants (Manager *self, gboolean reapply)
{
  g_autoptr (GPtrArray) all = grants_list (self->grants, -1);
  g_autoptr (GPtrArray) again = g_ptr_array_new ();
  /* "group:uid" to take back, "group:all" for everybody's, in order */
  g_autoptr (GHashTable) revoke = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) revoke_order = g_ptr_array_new ();
  g_autoptr (GHashTable) read =
      g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_ptr_array_unref);
  const char *boot_id = boot_id_current ();

  if (reapply && all->len > 0 && boot_id == NULL)
    g_warning ("Cannot tell whether the grants recorded are of this boot: none is given again");

  for (guint i = 0; i < all->len; i++)
    {
      const Grant *g = g_ptr_array_index (all, i);
      gboolean usable = model_group_usable (self->model, g->group);
      GrantVerdict verdict;

      if (reapply && boot_id != NULL)
        verdict = reconcile_grant_at_start (self, g, boot_id, read);
      else
        verdict = usable && !g->revoking ? GRANT_KEEP : GRANT_REVOKE;
      if (verdict == GRANT_REAPPLY)
        g_ptr_array_add (again, (gpointer) g);
      if (verdict == GRANT_REVOKE)
        {
          /* a group no longer usable: everybody's */
          char *key = usable ? g_strdup_printf ("%u:%u", g->group, (unsigned) g->uid)
                             : g_strdup_printf ("%u:all", g->group);
          if (g_hash_table_add (revoke, key))
            g_ptr_array_add (revoke_order, (gpointer) g);
        }
    }

  for (guint i = 0; i < revoke_order->len; i++)
    {
      const Grant *g = g_ptr_array_index (revoke_order, i);
      _cleanup_ (sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
      gboolean usable = model_group_usable (self->model, g->group);
      g_autofree char *what = g_strdup_printf ("IOMMU group %u", g->group);

      if (usable)
        g_message ("Taking back uid %u's grants on IOMMU group %u", (unsigned) g->uid, g->group);
      else
        g_message ("IOMMU group %u is no longer detached and viable: taking back its grants",
                   g->group);
      if (use_revoke (self->grants, g->group, usable ? g->uid : (uid_t) -1, what, NULL, &error) < 0)
        g_warning ("%s", error.message);
    }

  for (guint i = 0; i < again->len; i++)
    {
      const Grant *g = g_ptr_array_index (again, i);
      g_autofree char *mine = g_strdup_printf ("%u:%u", g->group, (unsigned) g->uid);
      g_autofree char *everybody = g_strdup_printf ("%u:all", g->group);
      int r;

      if (g_hash_table_contains (revoke, mine) || g_hash_table_contains (revoke, everybody))
        continue;
      r = access_acl_grant (g->path, g->uid);
      if (r < 0 && r != -ENOENT)
        g_warning ("Cannot give uid %u's access to %s back after a restart: %s", (unsigned) g->uid,
                   g->path, g_strerror (-r));
    }
}

static void
manager_reconcile_grants (gpointer user_data)
{
  reconcile_grants (user_data, FALSE);
}

static int
caller_uid (sd_bus_message *m, uid_t *uid, sd_bus_error *error)
{
  _cleanup_ (sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
  int r = sd_bus_query_sender_creds (m, SD_BUS_CREDS_EUID, &creds);

  if (r >= 0)
    r = sd_bus_creds_get_euid (creds, uid);
  if (r < 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                              "Cannot tell who is calling (%s): refused", g_strerror (-r));
  return 0;
}

static const char *
use_method_name (CallKind kind)
{
  switch (kind)
    {
    case CALL_OPEN_GROUP: return VFIOD_METHOD_OPEN_GROUP;
    case CALL_OPEN_DEVICE: return VFIOD_METHOD_OPEN_DEVICE;
    case CALL_GRANT: return VFIOD_METHOD_GRANT_ACCESS;
    case CALL_REVOKE: return VFIOD_METHOD_REVOKE_ACCESS;
    default: return VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT;
    }
}

/* Authorizes @call (its details and action set) and hands it to a
 * worker, unless the daemon stops or its group is stuck. */
static int
call_submit (Call *call, sd_bus_error *error)
{
  Manager *self = call->manager;
  Call *stuck;
  int r;

  if (self->quitting)
    return error_shutting_down (error, call->what);
  stuck = call->kind == CALL_LOCK_MEMORY
              ? NULL
              : g_hash_table_lookup (self->stuck, GUINT_TO_POINTER (call->group));
  if (stuck)
    return error_group_busy (error, stuck, call->what);
  r = call_start_authorizing (call, error);
  if (r < 0)
    return r;
  call_authorize_next (call);
  return 1;
}

/* Reader: what cannot work is refused before anybody is asked for a
 * password (and checked again once authorized). */
static void
use_prepare (gpointer data)
{
  Call *call = data;
  Manager *self = call->manager;
  g_autoptr (GPtrArray) members = NULL;
  g_autofree char *unreadable = NULL;
  char name[ADDRESS_STRLEN];
  int64_t group;
  int r;

  address_format (&call->target, name);
  r = sysfs_device_group (&call->target, &group);
  if (r < 0)
    {
      error_from_sysfs (&call->error, name, r);
      return;
    }
  if (group == DEVICE_NO_GROUP)
    {
      error_no_group (&call->error, name);
      return;
    }
  call->group = (uint32_t) group;

  if (call->kind == CALL_REVOKE)
    {
      g_autoptr (GPtrArray) held = grants_list (self->grants, call->group);
      gboolean any = FALSE;

      for (guint i = 0; i < held->len; i++)
        any = any || call->uid == 0 || ((Grant *) g_ptr_array_index (held, i))->uid == call->uid;
      /* nothing to take back: nothing to authorize */
      call->settled = !any;
      if (call->settled)
        call->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
      return;
    }

  r = model_read_group (self->model, call->group, &members, &unreadable);
  if (r < 0)
    r = error_from_sysfs (&call->error, unreadable ? unreadable : name, r);
  else
    r = use_check (members, name, call->group, &call->error);
  if (r >= 0)
    {
      g_autoptr (GHashTable) owners = state_owners (self->state);
      call->has_owner = use_group_owner (members, owners, &call->owner);
    }
  if (r >= 0 && call->kind == CALL_OPEN_DEVICE)
    {
      g_autofree char *cdev = access_device_cdev (name);
      if (cdev == NULL)
        use_open_device (name, &call->fd, &call->error); /* says NotSupported */
    }
}

/* Main thread: answers a settled call, or asks polkit. */
static void
use_prepared (gpointer data)
{
  Call *call = data;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  char name[ADDRESS_STRLEN];
  int r;

  if (call_answer_prepared (call))
    return;

  address_format (&call->target, name);
  call->what = g_strdup_printf ("%s %s (IOMMU group %u)",
                                call->kind == CALL_OPEN_GROUP    ? "open the IOMMU group of"
                                : call->kind == CALL_OPEN_DEVICE ? "open the VFIO device of"
                                : call->kind == CALL_GRANT       ? "grant access to"
                                                                 : "revoke access to",
                                name, call->group);
  call_detail (call, 0, VFIOD_DETAIL_DEVICE, g_strdup (name));
  call_detail (call, 1, VFIOD_DETAIL_GROUP, g_strdup_printf ("%u", call->group));
  call_detail (call, 2, VFIOD_DETAIL_UID, g_strdup_printf ("%u", (unsigned) call->uid));
  call->actions[0] = VFIOD_ACTION_USE_DEVICE;
  /* taking back one's own grants needs no more; using a group another
   * user detached (or nobody vfiod knows of) needs the stronger action */
  if (call->kind != CALL_REVOKE)
    {
      call_detail (call, 3, VFIOD_DETAIL_OWNER_UID, owner_detail (call));
      if (call_uses_other (call))
        {
          call->actions[1] = VFIOD_ACTION_USE_DEVICE_OTHER;
          call->other_asked = TRUE;
        }
    }
  r = call_submit (call, &error);
  if (r < 0)
    call_refuse (call, &error, r);
}

/* Checks the arguments and the caller here; the group is read on a
 * reader (use_prepare), and the answer or polkit comes after it. */
static int
method_use (sd_bus_message *m, Manager *self, CallKind kind, sd_bus_error *error)
{
  PciAddress target;
  const char *text;
  uint64_t flags;
  uid_t uid;
  Call *call;
  int r;

  r = sd_bus_message_read (m, "st", &text, &flags);
  if (r < 0)
    return r;
  if (flags != 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "Unknown flags 0x%" PRIx64 ": %s takes none (0)", flags,
                              use_method_name (kind));
  if (!address_parse (text, &target))
    return error_invalid_address (error, text);
  r = caller_uid (m, &uid, error);
  if (r < 0)
    return r;

  call = call_new (self, kind, m);
  call->target = target;
  call->uid = uid;
  manager_read (self, use_prepare, use_prepared, call);
  return 1;
}

static int
method_open_group (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return method_use (m, userdata, CALL_OPEN_GROUP, error);
}

static int
method_open_device (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return method_use (m, userdata, CALL_OPEN_DEVICE, error);
}

static int
method_grant_access (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return method_use (m, userdata, CALL_GRANT, error);
}

static int
method_revoke_access (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  return method_use (m, userdata, CALL_REVOKE, error);
}

static uint64_t
physical_memory (void)
{
  long pages = sysconf (_SC_PHYS_PAGES), size = sysconf (_SC_PAGESIZE);

  return pages > 0 && size > 0 ? (uint64_t) pages * (uint64_t) size : 0;
}

static int
method_set_locked_memory_limit (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Manager *self = userdata;
  uint64_t bytes, memory = physical_memory ();
  g_autofree char *size = NULL, *total = NULL;
  uid_t uids[4];
  Call *call;
  int fd, r;

  r = sd_bus_message_read (m, "ht", &fd, &bytes);
  if (r < 0)
    return r;
  size = access_format_size (bytes);
  total = access_format_size (memory);
  if (bytes == 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "A locked-memory limit of 0 bytes locks nothing: give the limit in "
                              "bytes, at least the guest's memory (e.g. 8589934592 for 8 GiB)");
  if (memory > 0 && bytes > memory)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "%" PRIu64 " bytes (%s) is more than this machine's memory (%s): "
                              "give at most the guest's memory plus a little",
                              bytes, size, total);
  if (bytes > self->settings.max_locked_memory)
    {
      g_autofree char *cap = access_format_size (self->settings.max_locked_memory);
      return sd_bus_error_setf (
          error, SD_BUS_ERROR_LIMITS_EXCEEDED,
          "%" PRIu64 " bytes (%s) is more than vfiod lets one process lock: %" PRIu64
          " bytes (%s, %s). Nothing was changed. Give a smaller guest, or raise the cap "
          "with " VFIOD_CONFIG_MAX_LOCKED_MEMORY "= in [" VFIOD_CONFIG_GROUP_LIMITS "] of %s "
          "and restart vfiod",
          bytes, size, self->settings.max_locked_memory, cap,
          self->settings.max_locked_memory_default ? "the default: the machine's memory less a "
                                                     "reserve for the host"
                                                   : "as configured",
          settings_default_path ());
    }

  call = call_new (self, CALL_LOCK_MEMORY, m);
  call->bytes = bytes;
  r = caller_uid (m, &call->uid, error);
  if (r >= 0)
    {
      /* ours: the message's goes with the message */
      call->pidfd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
      r = call->pidfd < 0 ? -errno : access_pidfd_process (call->pidfd, &call->pid, uids);
      if (r == -EBADF || r == -EBADMSG)
        r = sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                               "The file descriptor passed is not a pidfd: pass one of the "
                               "process whose limit should rise (pidfd_open(2))");
      else if (r == -ESRCH)
        r = sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                               "The process of the pidfd passed has exited: nothing to raise");
      else if (r < 0)
        r = sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                               "Cannot look at the process of the pidfd "
                               "passed: %s",
                               g_strerror (-r));
    }
  if (r >= 0)
    for (int i = 0; i < 4 && r >= 0; i++)
      if (uids[i] != call->uid)
        r = sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                               "Process %d runs as uid %u, not as the caller (uid %u): vfiod "
                               "raises the locked-memory limit of the caller's own processes only",
                               (int) call->pid, (unsigned) uids[i], (unsigned) call->uid);
  if (r < 0)
    {
      call_free (call);
      return r;
    }

  call->what =
      g_strdup_printf ("raise the locked-memory limit of process %d to %s", (int) call->pid, size);
  call_detail (call, 0, VFIOD_DETAIL_PID, g_strdup_printf ("%d", (int) call->pid));
  call_detail (call, 1, VFIOD_DETAIL_BYTES, g_strdup_printf ("%" PRIu64, bytes));
  call_detail (call, 2, VFIOD_DETAIL_SIZE, g_steal_pointer (&size));
  call_detail (call, 3, VFIOD_DETAIL_UID, g_strdup_printf ("%u", (unsigned) call->uid));
  call->actions[0] = VFIOD_ACTION_LOCK_MEMORY;
  r = call_submit (call, error);
  if (r < 0)
    call_free (call);
  return r;
}

/* ---- persistent assignments, read ----------------------------------------- */

/* At start: every record the boot helper could not carry out, and why. */
static void
warn_records (Manager *self)
{
  g_autoptr (GPtrArray) entries = records_list (self->records);

  for (guint i = 0; i < entries->len; i++)
    {
      const RecordEntry *e = g_ptr_array_index (entries, i);
      const Device *d = model_device (self->model, e->address);
      g_autofree char *check = records_check (e, d);

      if (!g_str_has_prefix (check, VFIOD_PERSISTENT_ACTIVE))
        g_warning ("Persistent assignment of %s not carried out: %s. The device was left to "
                   "the host; remove the assignment with ReattachDevice (vfioctl reattach %s) "
                   "or by deleting %s, or record the device there now with DetachDevice "
                   "PERSISTENT",
                   e->address, check + strlen (VFIOD_PERSISTENT_MISMATCH), e->address, e->path);
      else if (d && g_strcmp0 (d->driver, VFIOD_DRIVER_VFIO_PCI) != 0)
        g_message ("Persistent assignment of %s holds, but the device is on %s, not %s (booted "
                   "with " VFIOD_CMDLINE_PERSISTENT "=0, or the boot helper failed: see the "
                   "kernel log)",
                   e->address, d->driver ? d->driver : "no driver", VFIOD_DRIVER_VFIO_PCI);
    }
}

static int
append_assignment (sd_bus_message *m, const RecordEntry *e, const Device *d)
{
  g_autofree char *check = records_check (e, d);
  const PersistRecord *rec = e->record;
  int r = sd_bus_message_open_container (m, 'a', "{sv}");

  if (r >= 0)
    r = sd_bus_message_append (m, "{sv}{sv}{sv}", VFIOD_KEY_ADDRESS, "s", e->address,
                               VFIOD_KEY_RECORD, "s", e->path, VFIOD_KEY_PERSISTENT, "s", check);
  if (r >= 0 && rec)
    r = sd_bus_message_append (m, "{sv}{sv}{sv}{sv}{sv}", VFIOD_KEY_VENDOR_ID, "q", rec->vendor_id,
                               VFIOD_KEY_DEVICE_ID, "q", rec->device_id,
                               VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q", rec->subsystem_vendor_id,
                               VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q", rec->subsystem_device_id,
                               VFIOD_KEY_CLASS, "u", rec->class_code);
  if (r >= 0 && rec)
    {
      g_autoptr (GPtrArray) members = g_ptr_array_new_with_free_func (g_free);

      for (size_t i = 0; i < rec->n_members; i++)
        {
          char member[ADDRESS_STRLEN];
          g_ptr_array_add (members, g_strdup (address_format (&rec->members[i], member)));
        }
      g_ptr_array_add (members, NULL);
      r = sd_bus_message_open_container (m, 'e', "sv");
      if (r >= 0)
        r = sd_bus_message_append (m, "s", VFIOD_KEY_MEMBERS);
      if (r >= 0)
        r = sd_bus_message_open_container (m, 'v', "as");
      if (r >= 0)
        r = sd_bus_message_append_strv (m, (char **) members->pdata);
      if (r >= 0)
        r = sd_bus_message_close_container (m);
      if (r >= 0)
        r = sd_bus_message_close_container (m);
    }
  if (r >= 0 && d && d->driver)
    r = sd_bus_message_append (m, "{sv}", VFIOD_KEY_DRIVER, "s", d->driver);
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

static int
property_get_version (sd_bus *bus, const char *path, const char *interface, const char *property,
                      sd_bus_message *reply, void *userdata, sd_bus_error *error)
{
  return sd_bus_message_append (reply, "s", VFIOD_VERSION);
}

static const sd_bus_vtable manager_vtable[] = {
  SD_BUS_VTABLE_START (0),
  SD_BUS_PROPERTY (VFIOD_PROPERTY_VERSION, "s", property_get_version, 0,
                   SD_BUS_VTABLE_PROPERTY_CONST),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_EXPLAIN_GROUP, SD_BUS_ARGS ("s", device),
                           SD_BUS_RESULT ("a{sv}", explanation), method_explain_group,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_GET_GROUP, SD_BUS_ARGS ("s", device),
                           SD_BUS_RESULT ("u", group, "aa{sv}", devices), method_get_group,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_LIST_DEVICES, SD_BUS_NO_ARGS,
                           SD_BUS_RESULT ("aa{sv}", devices), method_list_devices,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_DETACH_DEVICE, SD_BUS_ARGS ("s", device, "t", flags),
                           SD_BUS_RESULT ("aa{sv}", plan), method_detach_device,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_REATTACH_DEVICE, SD_BUS_ARGS ("s", device, "t", flags),
                           SD_BUS_RESULT ("aa{sv}", plan), method_reattach_device,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_OPEN_GROUP, SD_BUS_ARGS ("s", device, "t", flags),
                           SD_BUS_RESULT ("u", group, "h", fd), method_open_group,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_OPEN_DEVICE, SD_BUS_ARGS ("s", device, "t", flags),
                           SD_BUS_RESULT ("h", fd), method_open_device, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_GRANT_ACCESS, SD_BUS_ARGS ("s", device, "t", flags),
                           SD_BUS_RESULT ("aa{sv}", nodes), method_grant_access,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_REVOKE_ACCESS, SD_BUS_ARGS ("s", device, "t", flags),
                           SD_BUS_RESULT ("aa{sv}", nodes), method_revoke_access,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT,
                           SD_BUS_ARGS ("h", pidfd, "t", bytes), SD_BUS_NO_RESULT,
                           method_set_locked_memory_limit, SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_LIST_PERSISTENT, SD_BUS_NO_ARGS,
                           SD_BUS_RESULT ("aa{sv}", assignments), method_list_persistent,
                           SD_BUS_VTABLE_UNPRIVILEGED),
  SD_BUS_VTABLE_END
};

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

static uint64_t physical_memory (void);

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
  self->group_locks = g_hash_table_new_full (NULL, NULL, NULL, group_lock_free);
  self->authorizing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->waiting = g_ptr_array_new ();
  self->running = g_ptr_array_new ();
  self->stuck = g_hash_table_new (NULL, NULL);
  self->write_timeout_ms = env_ms (VFIOD_ENV_WRITE_TIMEOUT_MS, VFIOD_WRITE_TIMEOUT_MS);
  settings_load (&self->settings, settings_default_path (), physical_memory ());
  g_message ("SetLockedMemoryLimit gives one process at most %" G_GUINT64_FORMAT " bytes (%s)",
             self->settings.max_locked_memory,
             self->settings.max_locked_memory_default ? "the default" : settings_default_path ());
  self->readers = g_thread_pool_new (reader_run, NULL, VFIOD_READERS, FALSE, NULL);
  r = sd_bus_add_object_vtable (bus, &self->slot, VFIOD_DBUS_PATH, VFIOD_DBUS_MANAGER_INTERFACE,
                                manager_vtable, self);
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
  warn_records (self);
  records_warn_notes ();
  /* grants recorded by an earlier run: those that no longer hold go, the
   * others are applied again */
  reconcile_grants (self, TRUE);
  model_set_changed_callback (self->model, manager_reconcile_grants, self);
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
  return self->reading > 0;
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
  /* nothing is reading by now (the daemon waited, or left without freeing) */
  g_assert (self->reading == 0);
  if (self->readers)
    g_thread_pool_free (self->readers, FALSE, TRUE);
  monitor_free (self->monitor);
  model_free (self->model);
  authz_free (self->authz);
  g_hash_table_unref (self->group_locks);
  g_mutex_clear (&self->locks_lock);
  g_hash_table_unref (self->authorizing);
  g_ptr_array_unref (self->waiting);
  g_ptr_array_unref (self->running);
  g_hash_table_unref (self->stuck);
  sd_bus_unref (self->bus);
  g_free (self);
}
