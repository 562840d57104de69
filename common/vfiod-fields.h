/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfiod-fields.h: every dictionary and object of the bus contract, one
 * row per field, in the contract's order (the interface XML's; a test
 * checks the two agree).  The service's getters, change detection and
 * encoders and libvfiod's decoder are all built from these rows: a new
 * attribute is one row here plus the code that reads it.
 *
 * Each list is an X-macro: VFIOD_DEVICE_FIELDS (X) expands X once per row.
 *
 *   X (ID, PROPERTY, PROPERTY_SIGNATURE, KEY, KEY_SIGNATURE, PRESENCE)
 *
 *   ID         a C identifier for the field (DEVICE_FIELD_##ID...)
 *   PROPERTY   the D-Bus property name on the object, or NULL
 *   KEY        the key in the method replies' a{sv}, or NULL
 *   PRESENCE   in the a{sv}: VFIOD_FIELD_ALWAYS, or VFIOD_FIELD_SPARSE
 *              (present only when there is something to say; the
 *              contract says when)
 *
 * Properties named NULL exist in the replies only and keys named NULL on
 * the objects only. */
#pragma once

#include "vfiod-names.h"

#define VFIOD_FIELD_ALWAYS 0
#define VFIOD_FIELD_SPARSE 1

/* org.freedesktop.vfio1.Device, and the device dictionary of GetGroup
 * and ListDevices. */
#define VFIOD_DEVICE_FIELDS(X)                                                                     \
  X (ADDRESS, VFIOD_PROP_ADDRESS, "s", VFIOD_KEY_ADDRESS, "s", VFIOD_FIELD_ALWAYS)                 \
  X (GROUP, VFIOD_PROP_GROUP, "o", VFIOD_KEY_GROUP, "u", VFIOD_FIELD_SPARSE)                       \
  X (VENDOR_ID, VFIOD_PROP_VENDOR_ID, "q", VFIOD_KEY_VENDOR_ID, "q", VFIOD_FIELD_ALWAYS)           \
  X (DEVICE_ID, VFIOD_PROP_DEVICE_ID, "q", VFIOD_KEY_DEVICE_ID, "q", VFIOD_FIELD_ALWAYS)           \
  X (SUBSYSTEM_VENDOR_ID, VFIOD_PROP_SUBSYSTEM_VENDOR_ID, "q", VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q", \
     VFIOD_FIELD_ALWAYS)                                                                           \
  X (SUBSYSTEM_DEVICE_ID, VFIOD_PROP_SUBSYSTEM_DEVICE_ID, "q", VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q", \
     VFIOD_FIELD_ALWAYS)                                                                           \
  X (CLASS, VFIOD_PROP_CLASS, "u", VFIOD_KEY_CLASS, "u", VFIOD_FIELD_ALWAYS)                       \
  X (VENDOR, VFIOD_PROP_VENDOR, "s", VFIOD_KEY_VENDOR, "s", VFIOD_FIELD_ALWAYS)                    \
  X (NAME, VFIOD_PROP_NAME, "s", VFIOD_KEY_NAME, "s", VFIOD_FIELD_ALWAYS)                          \
  X (DRIVER, VFIOD_PROP_DRIVER, "s", VFIOD_KEY_DRIVER, "s", VFIOD_FIELD_ALWAYS)                    \
  X (STATE, VFIOD_PROP_STATE, "s", VFIOD_KEY_STATE, "s", VFIOD_FIELD_ALWAYS)                       \
  X (BRIDGE, VFIOD_PROP_BRIDGE, "b", VFIOD_KEY_BRIDGE, "b", VFIOD_FIELD_ALWAYS)                    \
  X (IN_USE, VFIOD_PROP_IN_USE, "s", VFIOD_KEY_IN_USE, "s", VFIOD_FIELD_ALWAYS)                    \
  X (GRANTED_UIDS, NULL, NULL, VFIOD_KEY_GRANTED_UIDS, "au", VFIOD_FIELD_SPARSE)                   \
  X (OWNER_UID, VFIOD_PROP_OWNER_UID, "u", VFIOD_KEY_OWNER_UID, "u", VFIOD_FIELD_SPARSE)           \
  X (PERSISTENT, VFIOD_PROP_PERSISTENT, "s", VFIOD_KEY_PERSISTENT, "s", VFIOD_FIELD_SPARSE)        \
  X (RESET_METHODS, VFIOD_PROP_RESET_METHODS, "as", VFIOD_KEY_RESET_METHODS, "as",                 \
     VFIOD_FIELD_ALWAYS)

/* org.freedesktop.vfio1.Group (no dictionary: GetGroup answers with the
 * number and the members' device dictionaries). */
#define VFIOD_GROUP_FIELDS(X)                                                    \
  X (NUMBER, VFIOD_PROP_NUMBER, "u", NULL, NULL, VFIOD_FIELD_ALWAYS)             \
  X (DEVICES, VFIOD_PROP_DEVICES, "ao", NULL, NULL, VFIOD_FIELD_ALWAYS)          \
  X (VIABLE, VFIOD_PROP_VIABLE, "b", NULL, NULL, VFIOD_FIELD_ALWAYS)             \
  X (IN_USE, VFIOD_PROP_IN_USE, "s", NULL, NULL, VFIOD_FIELD_ALWAYS)             \
  X (CAUSE, VFIOD_PROP_CAUSE, "s", NULL, NULL, VFIOD_FIELD_ALWAYS)               \
  X (CAUSE_DEVICE, VFIOD_PROP_CAUSE_DEVICE, "s", NULL, NULL, VFIOD_FIELD_ALWAYS) \
  X (EXPLANATION, VFIOD_PROP_EXPLANATION, "s", NULL, NULL, VFIOD_FIELD_ALWAYS)

/* A step of the plan DetachDevice and ReattachDevice answer with. */
#define VFIOD_PLAN_STEP_FIELDS(X)                                     \
  X (ADDRESS, NULL, NULL, VFIOD_KEY_ADDRESS, "s", VFIOD_FIELD_ALWAYS) \
  X (ACTION, NULL, NULL, VFIOD_KEY_ACTION, "s", VFIOD_FIELD_ALWAYS)   \
  X (FROM, NULL, NULL, VFIOD_KEY_FROM, "s", VFIOD_FIELD_ALWAYS)       \
  X (TO, NULL, NULL, VFIOD_KEY_TO, "s", VFIOD_FIELD_ALWAYS)           \
  X (REASON, NULL, NULL, VFIOD_KEY_REASON, "s", VFIOD_FIELD_ALWAYS)

/* ExplainGroup's answer. */
#define VFIOD_EXPLANATION_FIELDS(X)                                                        \
  X (GROUP, NULL, NULL, VFIOD_KEY_GROUP, "u", VFIOD_FIELD_ALWAYS)                          \
  X (CAUSE, NULL, NULL, VFIOD_KEY_CAUSE, "s", VFIOD_FIELD_ALWAYS)                          \
  X (CAUSE_DEVICE, NULL, NULL, VFIOD_KEY_CAUSE_DEVICE, "s", VFIOD_FIELD_ALWAYS)            \
  X (EXPLANATION, NULL, NULL, VFIOD_KEY_EXPLANATION, "s", VFIOD_FIELD_ALWAYS)              \
  X (ADVICE, NULL, NULL, VFIOD_KEY_ADVICE, "s", VFIOD_FIELD_ALWAYS)                        \
  X (ISOLATING_SLOTS, NULL, NULL, VFIOD_KEY_ISOLATING_SLOTS, "aa{sv}", VFIOD_FIELD_ALWAYS) \
  X (RESET_METHODS, NULL, NULL, VFIOD_KEY_RESET_METHODS, "as", VFIOD_FIELD_ALWAYS)         \
  X (RESET_WARNING, NULL, NULL, VFIOD_KEY_RESET_WARNING, "s", VFIOD_FIELD_ALWAYS)

/* An entry of ExplainGroup's "isolating_slots". */
#define VFIOD_SLOT_FIELDS(X)                                    \
  X (SLOT, NULL, NULL, VFIOD_KEY_SLOT, "s", VFIOD_FIELD_ALWAYS) \
  X (PORT, NULL, NULL, VFIOD_KEY_PORT, "s", VFIOD_FIELD_ALWAYS) \
  X (OCCUPANT, NULL, NULL, VFIOD_KEY_OCCUPANT, "as", VFIOD_FIELD_ALWAYS)

/* A persistent assignment of ListPersistentAssignments: the ids, class
 * and members only when the record could be read, the driver only when
 * the device is there and bound. */
#define VFIOD_ASSIGNMENT_FIELDS(X)                                                            \
  X (ADDRESS, NULL, NULL, VFIOD_KEY_ADDRESS, "s", VFIOD_FIELD_ALWAYS)                         \
  X (RECORD, NULL, NULL, VFIOD_KEY_RECORD, "s", VFIOD_FIELD_ALWAYS)                           \
  X (PERSISTENT, NULL, NULL, VFIOD_KEY_PERSISTENT, "s", VFIOD_FIELD_ALWAYS)                   \
  X (VENDOR_ID, NULL, NULL, VFIOD_KEY_VENDOR_ID, "q", VFIOD_FIELD_SPARSE)                     \
  X (DEVICE_ID, NULL, NULL, VFIOD_KEY_DEVICE_ID, "q", VFIOD_FIELD_SPARSE)                     \
  X (SUBSYSTEM_VENDOR_ID, NULL, NULL, VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q", VFIOD_FIELD_SPARSE) \
  X (SUBSYSTEM_DEVICE_ID, NULL, NULL, VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q", VFIOD_FIELD_SPARSE) \
  X (CLASS, NULL, NULL, VFIOD_KEY_CLASS, "u", VFIOD_FIELD_SPARSE)                             \
  X (MEMBERS, NULL, NULL, VFIOD_KEY_MEMBERS, "as", VFIOD_FIELD_SPARSE)                        \
  X (DRIVER, NULL, NULL, VFIOD_KEY_DRIVER, "s", VFIOD_FIELD_SPARSE)

/* A device node of GrantAccess and RevokeAccess. */
#define VFIOD_NODE_FIELDS(X)                                    \
  X (PATH, NULL, NULL, VFIOD_KEY_PATH, "s", VFIOD_FIELD_ALWAYS) \
  X (UID, NULL, NULL, VFIOD_KEY_UID, "u", VFIOD_FIELD_ALWAYS)
