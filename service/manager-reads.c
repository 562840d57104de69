/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The read-only methods: GetGroup, ListDevices, ExplainGroup,
 * ListPersistentAssignments.  No polkit: anybody may ask; each is read on
 * a reader and answered from what it read, or (GetGroup, ListDevices,
 * ExplainGroup) from the objects when they are current. */
#include <errno.h>
#include <string.h>

#include "access.h"
#include "errors.h"
#include "fields.h"
#include "isolation.h"
#include "manager-private.h"
#include "names.h"
#include "sysfs.h"

typedef struct {
  GPtrArray *devices;   /* Device*: the group's, or the machine's */
  const Device *device; /* explain: the one asked about, in @devices */
  GPtrArray *slots;     /* explain: PciSlot* */
  Isolation *isolation; /* explain: owned, or call->view's */
  gboolean own_isolation;
  IsolationAdvice *advice; /* explain */
  const GroupCause *cause; /* explain: in @isolation */
  GPtrArray *entries;      /* list-persistent: RecordEntry* */
} Reading;

static void
reading_free (gpointer data)
{
  Reading *q = data;

  g_clear_pointer (&q->advice, isolation_advice_free);
  if (q->own_isolation)
    g_clear_pointer (&q->isolation, isolation_free);
  g_clear_pointer (&q->slots, g_ptr_array_unref);
  g_clear_pointer (&q->devices, g_ptr_array_unref);
  g_clear_pointer (&q->entries, g_ptr_array_unref);
  g_free (q);
}

static int
parse_target (Call *call, sd_bus_message *m, sd_bus_error *error)
{
  const char *text;
  int r;

  call->data = g_new0 (Reading, 1);
  r = sd_bus_message_read (m, "s", &text);
  return r < 0 ? r : engine_set_target (call, text, error);
}

static int
parse_none (Call *call, sd_bus_message *m, sd_bus_error *error)
{
  call->data = g_new0 (Reading, 1);
  return 0;
}

/* ---- the device dictionary ---------------------------------------------- */

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

/* The device dictionaries (fields.c), with who may open each group now. */
static int
append_devices (Call *call, sd_bus_message *m, GPtrArray *devices)
{
  g_autoptr (GPtrArray) grants = grants_list (call->manager->grants, -1);

  return fields_append_devices (m, devices, grants);
}

/* ---- GetGroup ------------------------------------------------------------ */

static void
get_group_prepare (Call *call)
{
  Reading *q = call->data;
  g_autofree char *unreadable = NULL;
  int r;

  if (engine_read_group (call) < 0)
    return;
  r = model_read_group (call->manager->model, call->group, &q->devices, &unreadable);
  if (r < 0 || q->devices->len == 0)
    errors_from_sysfs (&call->error, unreadable ? unreadable : call->name, r < 0 ? r : -ENOENT);
}

/* The objects answer when they show the device: its group's members as
 * a read of the group would find them. */
static gboolean
get_group_from_view (Call *call)
{
  Reading *q = call->data;
  const Device *d = view_device (call->view, call->name);
  ViewGroup *g;

  if (d == NULL || d->group == DEVICE_NO_GROUP ||
      (g = view_group (call->view, (uint32_t) d->group)) == NULL)
    return FALSE;
  /* who holds a member's device nodes open is read at the call, never
   * kept in the objects */
  for (guint i = 0; i < g->members->len; i++)
    if (((const Device *) g_ptr_array_index (g->members, i))->has_nodes)
      return FALSE;
  call->group = g->number;
  q->devices = g_ptr_array_ref (g->members);
  return TRUE;
}

static int
get_group_reply (Call *call, sd_bus_message *reply)
{
  Reading *q = call->data;
  int r = sd_bus_message_append (reply, "u", call->group);

  if (r >= 0)
    r = append_devices (call, reply, q->devices);
  return r;
}

/* ---- ListDevices ------------------------------------------------------------ */

static void
list_devices_prepare (Call *call)
{
  Reading *q = call->data;
  g_autofree char *unreadable = NULL;
  int r = model_read_devices (call->manager->model, &q->devices, &unreadable);

  if (r < 0 && unreadable)
    errors_from_sysfs (&call->error, unreadable, r);
  else if (r < 0)
    sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                       "Cannot list PCI devices in " VFIOD_SYSFS_PCI_DEVICES
                       ": %s; is /sys mounted?",
                       g_strerror (-r));
}

static gboolean
list_devices_from_view (Call *call)
{
  Reading *q = call->data;

  q->devices = g_ptr_array_ref (call->view->devices);
  return TRUE;
}

static int
list_devices_reply (Call *call, sd_bus_message *reply)
{
  Reading *q = call->data;

  return append_devices (call, reply, q->devices);
}

/* ---- ExplainGroup ------------------------------------------------------------ */

/* The rules need the whole tree: the ports above the device, the
 * functions beside it.  From the objects' reading (with the rules already
 * run over it) when it shows the device; else read. */
static void
explain_prepare (Call *call)
{
  Reading *q = call->data;

  if (call->view && (q->device = view_device (call->view, call->name)) != NULL)
    {
      q->devices = g_ptr_array_ref (call->view->devices);
      q->isolation = call->view->isolation;
    }
  else
    {
      g_autofree char *unreadable = NULL;
      int r = model_read_devices (call->manager->model, &q->devices, &unreadable);

      if (r < 0)
        {
          errors_from_sysfs (&call->error, unreadable ? unreadable : call->name, r);
          return;
        }
      for (guint i = 0; i < q->devices->len && q->device == NULL; i++)
        if (strcmp (((Device *) g_ptr_array_index (q->devices, i))->name, call->name) == 0)
          q->device = g_ptr_array_index (q->devices, i);
    }
  if (q->device == NULL)
    {
      errors_from_sysfs (&call->error, call->name, -ENOENT);
      return;
    }
  if (q->device->group == DEVICE_NO_GROUP)
    {
      errors_no_group (&call->error, call->name);
      return;
    }
  call->group = (uint32_t) q->device->group;
  if (q->isolation == NULL)
    {
      q->isolation = isolation_new (q->devices);
      q->own_isolation = TRUE;
    }
  q->slots = sysfs_list_slots ();
  q->advice = isolation_advise (q->isolation, call->name, q->slots);
  q->cause = isolation_group (q->isolation, call->group);
  /* the reading explains every group of its devices: never NULL, but a
   * caller gets an error rather than a crash if that ever breaks */
  if (q->advice == NULL || q->cause == NULL)
    sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                       "Cannot explain the IOMMU group of %s: it changed while it was "
                       "read; try again",
                       call->name);
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
explain_reply (Call *call, sd_bus_message *m)
{
  Reading *q = call->data;
  int r = sd_bus_message_open_container (m, 'a', "{sv}");

  if (r >= 0)
    r = sd_bus_message_append (m, "{sv}{sv}{sv}{sv}{sv}{sv}", VFIOD_KEY_GROUP, "u", call->group,
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

/* ---- ListPersistentAssignments ----------------------------------------------- */

/* The records directory (a few small files), matched with the devices as
 * ListDevices reads them (through the model's cache), so a listing right
 * after a DetachDevice shows the drivers it left. */
static void
list_persistent_prepare (Call *call)
{
  Reading *q = call->data;
  g_autofree char *unreadable = NULL;
  int r;

  q->entries = records_list (call->manager->records);
  r = model_read_devices (call->manager->model, &q->devices, &unreadable);
  if (r < 0)
    sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                       "Cannot check the persistent assignments against the PCI "
                       "devices: reading %s failed: %s; is /sys mounted?",
                       unreadable ? unreadable : VFIOD_SYSFS_PCI_DEVICES, g_strerror (-r));
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
list_persistent_reply (Call *call, sd_bus_message *m)
{
  Reading *q = call->data;
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

const MethodSpec manager_reads[] = {
  {
      .method = SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_EXPLAIN_GROUP, SD_BUS_ARGS ("s", device),
                                         SD_BUS_RESULT ("a{sv}", explanation), engine_method,
                                         SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_READ | METHOD_LARGE | METHOD_VIEW,
      .parse = parse_target,
      .prepare = explain_prepare,
      .reply = explain_reply,
      .free = reading_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_GET_GROUP, SD_BUS_ARGS ("s", device),
                                         SD_BUS_RESULT ("u", group, "aa{sv}", devices),
                                         engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_READ | METHOD_VIEW,
      .parse = parse_target,
      .from_view = get_group_from_view,
      .prepare = get_group_prepare,
      .reply = get_group_reply,
      .free = reading_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_LIST_DEVICES, SD_BUS_NO_ARGS,
                                         SD_BUS_RESULT ("aa{sv}", devices), engine_method,
                                         SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_READ | METHOD_LARGE | METHOD_VIEW,
      .parse = parse_none,
      .from_view = list_devices_from_view,
      .prepare = list_devices_prepare,
      .reply = list_devices_reply,
      .free = reading_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_LIST_PERSISTENT, SD_BUS_NO_ARGS,
                                         SD_BUS_RESULT ("aa{sv}", assignments), engine_method,
                                         SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_READ | METHOD_LARGE,
      .parse = parse_none,
      .prepare = list_persistent_prepare,
      .reply = list_persistent_reply,
      .free = reading_free,
  },
  ENGINE_METHODS_END,
};
