/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fields.h"

#include <string.h>

#include "access.h"
#include "grants.h"
#include "names.h"

/* ---- helpers ------------------------------------------------------------- */

static const char *
str (const char *s)
{
  return s ? s : "";
}

static bool
str_differ (const char *a, const char *b)
{
  return strcmp (str (a), str (b)) != 0;
}

static char **
strv (char **v)
{
  static char *none[] = { NULL };

  return v ? v : none;
}

static bool
strv_differ (char **a, char **b)
{
  return !g_strv_equal ((const char *const *) strv (a), (const char *const *) strv (b));
}

/* {key: <value>} of a basic type, the row's key and signature */
#define ENTRY(m, f, value) sd_bus_message_append (m, "{sv}", (f)->key, (f)->key_signature, value)

static int
entry_open (sd_bus_message *m, const DeviceField *f)
{
  int r = sd_bus_message_open_container (m, 'e', "sv");

  if (r >= 0)
    r = sd_bus_message_append_basic (m, 's', f->key);
  if (r >= 0)
    r = sd_bus_message_open_container (m, 'v', f->key_signature);
  return r;
}

static int
entry_close (sd_bus_message *m)
{
  int r = sd_bus_message_close_container (m);

  return r < 0 ? r : sd_bus_message_close_container (m);
}

/* An entry whose value is one basic value: 1 or <0. */
#define ENTRY_RESULT(expr)    \
  do                          \
    {                         \
      int r_ = (expr);        \
      return r_ < 0 ? r_ : 1; \
    }                         \
  while (0)

/* The three functions of a device row whose property and entry are the
 * same basic value, and differ when it does. */
#define DEVICE_SIMPLE(id, value)                                                             \
  static int device_property_##id (sd_bus_message *m, const DeviceField *f, const Device *d) \
  {                                                                                          \
    return sd_bus_message_append (m, f->property_signature, value);                          \
  }                                                                                          \
  static int device_entry_##id (sd_bus_message *m, const DeviceField *f, const Device *d,    \
                                GPtrArray *grants)                                           \
  {                                                                                          \
    ENTRY_RESULT (ENTRY (m, f, value));                                                      \
  }

/* ---- device rows ----------------------------------------------------------- */

/* Address names the object: never changes. */
DEVICE_SIMPLE (ADDRESS, d->name)
#define device_differ_ADDRESS NULL

static int
device_property_GROUP (sd_bus_message *m, const DeviceField *f, const Device *d)
{
  g_autofree char *path = NULL;

  if (d->group == DEVICE_NO_GROUP)
    return sd_bus_message_append (m, f->property_signature, VFIOD_DBUS_NO_GROUP_PATH);
  path = view_group_path ((uint32_t) d->group);
  return sd_bus_message_append (m, f->property_signature, path);
}

static int
device_entry_GROUP (sd_bus_message *m, const DeviceField *f, const Device *d, GPtrArray *grants)
{
  if (d->group == DEVICE_NO_GROUP)
    return 0;
  ENTRY_RESULT (ENTRY (m, f, (uint32_t) d->group));
}

static bool
device_differ_GROUP (const Device *a, const Device *b)
{
  return a->group != b->group;
}

#define DEVICE_NUMBER(id, member)                                   \
  DEVICE_SIMPLE (id, d->member)                                     \
  static bool device_differ_##id (const Device *a, const Device *b) \
  {                                                                 \
    return a->member != b->member;                                  \
  }

#define DEVICE_STRING(id, member)                                   \
  DEVICE_SIMPLE (id, str (d->member))                               \
  static bool device_differ_##id (const Device *a, const Device *b) \
  {                                                                 \
    return str_differ (a->member, b->member);                       \
  }

/* Ids are signalled too when they change: they are not the path. */
DEVICE_NUMBER (VENDOR_ID, vendor_id)
DEVICE_NUMBER (DEVICE_ID, device_id)
DEVICE_NUMBER (SUBSYSTEM_VENDOR_ID, subsystem_vendor_id)
DEVICE_NUMBER (SUBSYSTEM_DEVICE_ID, subsystem_device_id)
DEVICE_NUMBER (CLASS, class_code)
DEVICE_STRING (VENDOR, vendor)
DEVICE_STRING (NAME, model)
DEVICE_STRING (DRIVER, driver)

DEVICE_SIMPLE (STATE, device_state_to_string (device_state (d)))
static bool
device_differ_STATE (const Device *a, const Device *b)
{
  return device_state (a) != device_state (b);
}

DEVICE_SIMPLE (BRIDGE, (int) device_is_bridge (d))
static bool
device_differ_BRIDGE (const Device *a, const Device *b)
{
  return device_is_bridge (a) != device_is_bridge (b);
}

DEVICE_STRING (IN_USE, in_use)

/* Who may open the device's group by path (GrantAccess): only when
 * somebody may (almost never; the entry costs a ListDevices of thousands
 * of devices).  A dictionary key only. */
#define device_property_GRANTED_UIDS NULL
#define device_differ_GRANTED_UIDS   NULL

static int
device_entry_GRANTED_UIDS (sd_bus_message *m, const DeviceField *f, const Device *d,
                           GPtrArray *grants)
{
  g_autoptr (GArray) uids = NULL;
  g_autofree char *node = NULL;
  int r;

  if (grants == NULL || grants->len == 0 || d->group == DEVICE_NO_GROUP)
    return 0;
  uids = g_array_new (FALSE, FALSE, sizeof (uint32_t));
  node = access_group_node ((uint32_t) d->group);
  for (guint i = 0; i < grants->len; i++)
    {
      const Grant *g = g_ptr_array_index (grants, i);
      uint32_t uid = (uint32_t) g->uid;

      if (!g->revoking && g->group == (uint32_t) d->group && strcmp (g->path, node) == 0)
        g_array_append_val (uids, uid);
    }
  if (uids->len == 0)
    return 0;
  r = entry_open (m, f);
  if (r >= 0)
    r = sd_bus_message_append_array (m, 'u', uids->data, uids->len * sizeof (uint32_t));
  if (r >= 0)
    r = entry_close (m);
  return r < 0 ? r : 1;
}

/* Who detached it, when vfiod knows (in this boot): the property says
 * VFIOD_OWNER_UID_NONE otherwise, the dictionary nothing. */
static int
device_property_OWNER_UID (sd_bus_message *m, const DeviceField *f, const Device *d)
{
  return sd_bus_message_append (m, f->property_signature,
                                d->has_owner ? d->owner_uid : VFIOD_OWNER_UID_NONE);
}

static int
device_entry_OWNER_UID (sd_bus_message *m, const DeviceField *f, const Device *d, GPtrArray *grants)
{
  if (!d->has_owner)
    return 0;
  ENTRY_RESULT (ENTRY (m, f, d->owner_uid));
}

static bool
device_differ_OWNER_UID (const Device *a, const Device *b)
{
  return a->has_owner != b->has_owner || a->owner_uid != b->owner_uid;
}

/* Like granted_uids, only where there is something to say: an entry per
 * device costs a ListDevices of thousands of devices. */
static int
device_property_PERSISTENT (sd_bus_message *m, const DeviceField *f, const Device *d)
{
  return sd_bus_message_append (m, f->property_signature, str (d->persistent));
}

static int
device_entry_PERSISTENT (sd_bus_message *m, const DeviceField *f, const Device *d,
                         GPtrArray *grants)
{
  if (d->persistent == NULL)
    return 0;
  ENTRY_RESULT (ENTRY (m, f, d->persistent));
}

static bool
device_differ_PERSISTENT (const Device *a, const Device *b)
{
  return str_differ (a->persistent, b->persistent);
}

static int
device_property_RESET_METHODS (sd_bus_message *m, const DeviceField *f, const Device *d)
{
  return sd_bus_message_append_strv (m, strv (d->reset_methods));
}

static int
device_entry_RESET_METHODS (sd_bus_message *m, const DeviceField *f, const Device *d,
                            GPtrArray *grants)
{
  int r = entry_open (m, f);

  if (r >= 0)
    r = sd_bus_message_append_strv (m, strv (d->reset_methods));
  if (r >= 0)
    r = entry_close (m);
  return r < 0 ? r : 1;
}

static bool
device_differ_RESET_METHODS (const Device *a, const Device *b)
{
  return strv_differ (a->reset_methods, b->reset_methods);
}

const DeviceField fields_device[DEVICE_FIELD_COUNT] = {
#define X(ID, PROPERTY, PSIG, KEY, KSIG, PRESENCE) \
  [DEVICE_FIELD_##ID] = {                          \
    .id = #ID,                                     \
    .property = PROPERTY,                          \
    .property_signature = PSIG,                    \
    .key = KEY,                                    \
    .key_signature = KSIG,                         \
    .presence = PRESENCE,                          \
    .append_property = device_property_##ID,       \
    .append_entry = device_entry_##ID,             \
    .differ = device_differ_##ID,                  \
  },
  VFIOD_DEVICE_FIELDS (X)
#undef X
};

/* ---- group rows ------------------------------------------------------------ */

#define GROUP_SIMPLE(id, value)                                                               \
  static int group_property_##id (sd_bus_message *m, const GroupField *f, const ViewGroup *g) \
  {                                                                                           \
    return sd_bus_message_append (m, f->property_signature, value);                           \
  }

#define GROUP_STRING(id, expr)                                           \
  GROUP_SIMPLE (id, expr (g))                                            \
  static bool group_differ_##id (const ViewGroup *a, const ViewGroup *b) \
  {                                                                      \
    return strcmp (expr (a), expr (b)) != 0;                             \
  }

/* Number names the object: never changes. */
GROUP_SIMPLE (NUMBER, g->number)
#define group_differ_NUMBER NULL

static int
group_property_DEVICES (sd_bus_message *m, const GroupField *f, const ViewGroup *g)
{
  int r = sd_bus_message_open_container (m, 'a', "o");

  for (guint i = 0; r >= 0 && i < g->members->len; i++)
    {
      g_autofree char *member =
          view_device_path (((Device *) g_ptr_array_index (g->members, i))->name);
      r = sd_bus_message_append_basic (m, 'o', member);
    }
  return r < 0 ? r : sd_bus_message_close_container (m);
}

static bool
group_differ_DEVICES (const ViewGroup *a, const ViewGroup *b)
{
  if (a->members->len != b->members->len)
    return true;
  for (guint i = 0; i < a->members->len; i++)
    if (strcmp (((Device *) g_ptr_array_index (a->members, i))->name,
                ((Device *) g_ptr_array_index (b->members, i))->name) != 0)
      return true;
  return false;
}

GROUP_SIMPLE (VIABLE, (int) g->viable)
static bool
group_differ_VIABLE (const ViewGroup *a, const ViewGroup *b)
{
  return a->viable != b->viable;
}

#define GROUP_IN_USE(g)       ((g)->in_use)
#define GROUP_CAUSE(g)        ((g)->cause->cause)
#define GROUP_CAUSE_DEVICE(g) ((g)->cause->cause_device)
#define GROUP_EXPLANATION(g)  ((g)->cause->explanation)
GROUP_STRING (IN_USE, GROUP_IN_USE)
GROUP_STRING (CAUSE, GROUP_CAUSE)
GROUP_STRING (CAUSE_DEVICE, GROUP_CAUSE_DEVICE)
GROUP_STRING (EXPLANATION, GROUP_EXPLANATION)

const GroupField fields_group[GROUP_FIELD_COUNT] = {
#define X(ID, PROPERTY, PSIG, KEY, KSIG, PRESENCE) \
  [GROUP_FIELD_##ID] = {                           \
    .id = #ID,                                     \
    .property = PROPERTY,                          \
    .property_signature = PSIG,                    \
    .append_property = group_property_##ID,        \
    .differ = group_differ_##ID,                   \
  },
  VFIOD_GROUP_FIELDS (X)
#undef X
};

/* ---- lookups and the encoder -------------------------------------------------- */

const DeviceField *
fields_device_by_property (const char *property)
{
  for (gsize i = 0; i < G_N_ELEMENTS (fields_device); i++)
    if (fields_device[i].property && strcmp (fields_device[i].property, property) == 0)
      return &fields_device[i];
  return NULL;
}

const GroupField *
fields_group_by_property (const char *property)
{
  for (gsize i = 0; i < G_N_ELEMENTS (fields_group); i++)
    if (fields_group[i].property && strcmp (fields_group[i].property, property) == 0)
      return &fields_group[i];
  return NULL;
}

int
fields_append_device (sd_bus_message *m, const Device *d, GPtrArray *grants)
{
  int r = sd_bus_message_open_container (m, 'a', "{sv}");

  for (gsize i = 0; r >= 0 && i < G_N_ELEMENTS (fields_device); i++)
    if (fields_device[i].append_entry)
      r = fields_device[i].append_entry (m, &fields_device[i], d, grants);
  return r < 0 ? r : sd_bus_message_close_container (m);
}

int
fields_append_devices (sd_bus_message *m, GPtrArray *devices, GPtrArray *grants)
{
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && i < devices->len; i++)
    r = fields_append_device (m, g_ptr_array_index (devices, i), grants);
  return r < 0 ? r : sd_bus_message_close_container (m);
}
