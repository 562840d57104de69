/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fields.h: the fields of the Device and Group objects and of the device
 * dictionary, one row each, built from the rows of vfiod-fields.h (the
 * contract's order).  A row holds the names and signatures and how to
 * append the property's value, append the dictionary entry and tell two
 * readings apart: model.c builds its vtables and getters from these rows,
 * view.c its change detection, the read methods their replies.
 *
 * A new row in vfiod-fields.h fails to compile here until its functions
 * exist (fields.c: device_property_ID, device_entry_ID, device_differ_ID;
 * group_property_ID, group_differ_ID); a row without a property or key
 * defines its function as NULL (#define device_property_ID NULL). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "device.h"
#include "view.h"
#include "vfiod-fields.h"

typedef enum {
#define X(id, property, psig, key, ksig, presence) DEVICE_FIELD_##id,
  VFIOD_DEVICE_FIELDS (X)
#undef X
      DEVICE_FIELD_COUNT
} DeviceFieldId;

typedef enum {
#define X(id, property, psig, key, ksig, presence) GROUP_FIELD_##id,
  VFIOD_GROUP_FIELDS (X)
#undef X
      GROUP_FIELD_COUNT
} GroupFieldId;

typedef struct DeviceField DeviceField;
struct DeviceField {
  const char *id;                 /* "ADDRESS": the row's ID */
  const char *property;           /* NULL: in the dictionary only */
  const char *property_signature; /* NULL with it */
  const char *key;                /* NULL: on the object only */
  const char *key_signature;      /* NULL with it */
  int presence;                   /* VFIOD_FIELD_ALWAYS or _SPARSE */
  /* The property's value, of property_signature (the caller opened the
   * variant, or sd-bus did).  NULL without a property. */
  int (*append_property) (sd_bus_message *m, const DeviceField *f, const Device *d);
  /* The dictionary entry {sv}: 1 appended, 0 absent (a sparse key with
   * nothing to say; nothing appended), <0 an error.  @grants as for
   * fields_append_device().  NULL without a key. */
  int (*append_entry) (sd_bus_message *m, const DeviceField *f, const Device *d, GPtrArray *grants);
  /* Whether the property shows another value for @b than for @a (the
   * same device in two readings).  NULL: it never changes (the object's
   * name): its property is const. */
  bool (*differ) (const Device *a, const Device *b);
};

typedef struct GroupField GroupField;
struct GroupField {
  const char *id;
  const char *property;
  const char *property_signature;
  int (*append_property) (sd_bus_message *m, const GroupField *f, const ViewGroup *g);
  bool (*differ) (const ViewGroup *a, const ViewGroup *b); /* NULL: const */
};

/* In the rows' order, indexed by DEVICE_FIELD_* / GROUP_FIELD_*. */
extern const DeviceField fields_device[DEVICE_FIELD_COUNT];
extern const GroupField fields_group[GROUP_FIELD_COUNT];

/* The row of the property named @property, or NULL. */
const DeviceField *fields_device_by_property (const char *property);
const GroupField *fields_group_by_property (const char *property);

/* The device dictionary a{sv} of GetGroup and ListDevices: every key in
 * the rows' order, the sparse ones only when there is something to say
 * ("group" with a group, "owner_uid" when d->has_owner, "persistent" when
 * set, "granted_uids" when a grant that is not being revoked gives
 * somebody the node of the device's group).  @grants: Grant*, all of
 * them (grants_list (grants, -1)); NULL is none. */
int fields_append_device (sd_bus_message *m, const Device *d, GPtrArray *grants);
/* aa{sv}: one dictionary per device of @devices (Device*), in order. */
int fields_append_devices (sd_bus_message *m, GPtrArray *devices, GPtrArray *grants);
