/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-fields.c: libvfiod's tables of the contract's dictionaries and
 * objects, one row per row of common/vfiod-fields.h, in its order.
 *
 * The rows (names, signatures, order) come from the X-macros; what is ours
 * is the binding of each key to the member of the public struct it is
 * decoded into (and how a number reads for people).  A row the X-macros
 * gain without a binding here is left unbound, which test-fields.c catches.
 */
#include <stddef.h>
#include <string.h>

#include "vfiod-fields.h"
#include "vfiod-private.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* The member of `type` a key is decoded into. */
#define BIND(type, member, ...)                                                                        \
        {                                                                                              \
                .bound = true, .offset = offsetof(type, member), .size = sizeof(((type *) 0)->member), \
                __VA_ARGS__                                                                            \
        }
/* Set to true when the key was present. */
#define SEEN(type, member) .has_seen = true, .seen_offset = offsetof(type, member)
/* The size_t length of a list. */
#define COUNT(type, member) .has_count = true, .count_offset = offsetof(type, member)

/* One FieldRow per X-macro row, its binding found by the row's ID. */
#define FIELD_ROW(bindings, prefix, id, property, property_signature, key, key_signature, presence) \
        {#id, property, property_signature, key, key_signature, presence, &bindings[prefix##_##id]},

/* ---- devices -------------------------------------------------------- */

#define DEVICE_ENUM(id, ...) DEVICE_##id,
enum {
        VFIOD_DEVICE_FIELDS(DEVICE_ENUM) _DEVICE_MAX
};

static const FieldBinding device_bindings[_DEVICE_MAX] = {
        [DEVICE_ADDRESS] = BIND(VfiodDevice, address, .required = true),
        [DEVICE_GROUP] = BIND(VfiodDevice, group, SEEN(VfiodDevice, has_group)),
        [DEVICE_VENDOR_ID] = BIND(VfiodDevice, vendor_id, .format = FIELD_FORMAT_HEX16),
        [DEVICE_DEVICE_ID] = BIND(VfiodDevice, device_id, .format = FIELD_FORMAT_HEX16),
        [DEVICE_SUBSYSTEM_VENDOR_ID] = BIND(VfiodDevice, subsystem_vendor_id, .format = FIELD_FORMAT_HEX16),
        [DEVICE_SUBSYSTEM_DEVICE_ID] = BIND(VfiodDevice, subsystem_device_id, .format = FIELD_FORMAT_HEX16),
        [DEVICE_CLASS] = BIND(VfiodDevice, class_code, .format = FIELD_FORMAT_HEX24),
        [DEVICE_VENDOR] = BIND(VfiodDevice, vendor),
        [DEVICE_NAME] = BIND(VfiodDevice, name),
        [DEVICE_DRIVER] = BIND(VfiodDevice, driver),
        [DEVICE_STATE] = BIND(VfiodDevice, state),
        [DEVICE_BRIDGE] = BIND(VfiodDevice, bridge),
        [DEVICE_IN_USE] = BIND(VfiodDevice, in_use),
        [DEVICE_GRANTED_UIDS] =
                BIND(VfiodDevice, granted_uids, COUNT(VfiodDevice, n_granted_uids), .omit_empty = true),
        [DEVICE_OWNER_UID] = BIND(VfiodDevice, owner_uid, SEEN(VfiodDevice, has_owner_uid)),
        [DEVICE_PERSISTENT] = BIND(VfiodDevice, persistent, .omit_empty = true),
        [DEVICE_RESET_METHODS] = BIND(VfiodDevice, reset_methods, SEEN(VfiodDevice, has_reset_methods),
                                      COUNT(VfiodDevice, n_reset_methods)),
};

#define DEVICE_ROW(...) FIELD_ROW(device_bindings, DEVICE, __VA_ARGS__)
static const FieldRow device_rows[] = {VFIOD_DEVICE_FIELDS(DEVICE_ROW)};

/* ---- groups (objects only: no dictionary, nothing to bind) ---------- */

#define GROUP_ENUM(id, ...) GROUP_##id,
enum {
        VFIOD_GROUP_FIELDS(GROUP_ENUM) _GROUP_MAX
};

static const FieldBinding group_bindings[_GROUP_MAX] = {};

#define GROUP_ROW(...) FIELD_ROW(group_bindings, GROUP, __VA_ARGS__)
static const FieldRow group_rows[] = {VFIOD_GROUP_FIELDS(GROUP_ROW)};

/* ---- plan steps ------------------------------------------------------ */

#define PLAN_ENUM(id, ...) PLAN_##id,
enum {
        VFIOD_PLAN_STEP_FIELDS(PLAN_ENUM) _PLAN_MAX
};

static const FieldBinding plan_bindings[_PLAN_MAX] = {
        [PLAN_ADDRESS] = BIND(VfiodPlanEntry, address, .required = true),
        [PLAN_ACTION] = BIND(VfiodPlanEntry, action),
        [PLAN_FROM] = BIND(VfiodPlanEntry, from),
        [PLAN_TO] = BIND(VfiodPlanEntry, to),
        [PLAN_REASON] = BIND(VfiodPlanEntry, reason),
};

#define PLAN_ROW(...) FIELD_ROW(plan_bindings, PLAN, __VA_ARGS__)
static const FieldRow plan_rows[] = {VFIOD_PLAN_STEP_FIELDS(PLAN_ROW)};

/* ---- isolating slots and explanations -------------------------------- */

#define SLOT_ENUM(id, ...) SLOT_##id,
enum {
        VFIOD_SLOT_FIELDS(SLOT_ENUM) _SLOT_MAX
};

static const FieldBinding slot_bindings[_SLOT_MAX] = {
        [SLOT_SLOT] = BIND(VfiodIsolatingSlot, slot),
        [SLOT_PORT] = BIND(VfiodIsolatingSlot, port, .required = true),
        [SLOT_OCCUPANT] = BIND(VfiodIsolatingSlot, occupants, COUNT(VfiodIsolatingSlot, n_occupants)),
};

#define SLOT_ROW(...) FIELD_ROW(slot_bindings, SLOT, __VA_ARGS__)
static const FieldRow slot_rows[] = {VFIOD_SLOT_FIELDS(SLOT_ROW)};

const FieldTable field_table_slot = {
        .what = "isolating slot",
        .rows = slot_rows,
        .n_rows = N_ELEMENTS(slot_rows),
        .size = sizeof(VfiodIsolatingSlot),
};

#define EXPLANATION_ENUM(id, ...) EXPLANATION_##id,
enum {
        VFIOD_EXPLANATION_FIELDS(EXPLANATION_ENUM) _EXPLANATION_MAX
};

static const FieldBinding explanation_bindings[_EXPLANATION_MAX] = {
        [EXPLANATION_GROUP] = BIND(VfiodExplanation, group, .required = true),
        [EXPLANATION_CAUSE] = BIND(VfiodExplanation, cause, .required = true),
        [EXPLANATION_CAUSE_DEVICE] = BIND(VfiodExplanation, cause_device),
        [EXPLANATION_EXPLANATION] = BIND(VfiodExplanation, explanation),
        [EXPLANATION_ADVICE] = BIND(VfiodExplanation, advice),
        [EXPLANATION_RESET_WARNING] = BIND(VfiodExplanation, reset_warning),
        [EXPLANATION_RESET_METHODS] =
                BIND(VfiodExplanation, reset_methods, COUNT(VfiodExplanation, n_reset_methods)),
        [EXPLANATION_ISOLATING_SLOTS] =
                BIND(VfiodExplanation, isolating_slots, COUNT(VfiodExplanation, n_isolating_slots),
                     .nested = &field_table_slot),
};

#define EXPLANATION_ROW(...) FIELD_ROW(explanation_bindings, EXPLANATION, __VA_ARGS__)
static const FieldRow explanation_rows[] = {VFIOD_EXPLANATION_FIELDS(EXPLANATION_ROW)};

/* ---- persistent assignments ----------------------------------------- */

#define ASSIGNMENT_ENUM(id, ...) ASSIGNMENT_##id,
enum {
        VFIOD_ASSIGNMENT_FIELDS(ASSIGNMENT_ENUM) _ASSIGNMENT_MAX
};

static const FieldBinding assignment_bindings[_ASSIGNMENT_MAX] = {
        [ASSIGNMENT_ADDRESS] = BIND(VfiodAssignment, address, .required = true),
        [ASSIGNMENT_RECORD] = BIND(VfiodAssignment, record),
        [ASSIGNMENT_PERSISTENT] = BIND(VfiodAssignment, persistent),
        [ASSIGNMENT_VENDOR_ID] = BIND(VfiodAssignment, vendor_id, SEEN(VfiodAssignment, has_ids)),
        [ASSIGNMENT_DEVICE_ID] = BIND(VfiodAssignment, device_id, SEEN(VfiodAssignment, has_ids)),
        [ASSIGNMENT_SUBSYSTEM_VENDOR_ID] =
                BIND(VfiodAssignment, subsystem_vendor_id, SEEN(VfiodAssignment, has_ids)),
        [ASSIGNMENT_SUBSYSTEM_DEVICE_ID] =
                BIND(VfiodAssignment, subsystem_device_id, SEEN(VfiodAssignment, has_ids)),
        [ASSIGNMENT_CLASS] = BIND(VfiodAssignment, class_code, SEEN(VfiodAssignment, has_ids)),
        [ASSIGNMENT_MEMBERS] =
                BIND(VfiodAssignment, members, COUNT(VfiodAssignment, n_members), .omit_empty = true),
        [ASSIGNMENT_DRIVER] = BIND(VfiodAssignment, driver),
};

#define ASSIGNMENT_ROW(...) FIELD_ROW(assignment_bindings, ASSIGNMENT, __VA_ARGS__)
static const FieldRow assignment_rows[] = {VFIOD_ASSIGNMENT_FIELDS(ASSIGNMENT_ROW)};

/* ---- device nodes --------------------------------------------------- */

#define NODE_ENUM(id, ...) NODE_##id,
enum {
        VFIOD_NODE_FIELDS(NODE_ENUM) _NODE_MAX
};

static const FieldBinding node_bindings[_NODE_MAX] = {
        [NODE_PATH] = BIND(VfiodNode, path, .required = true),
        [NODE_UID] = BIND(VfiodNode, uid),
};

#define NODE_ROW(...) FIELD_ROW(node_bindings, NODE, __VA_ARGS__)
static const FieldRow node_rows[] = {VFIOD_NODE_FIELDS(NODE_ROW)};

/* ---- the tables ----------------------------------------------------- */

const FieldTable field_table_device = {
        .what = "device",
        .rows = device_rows,
        .n_rows = N_ELEMENTS(device_rows),
        .size = sizeof(VfiodDevice),
};
const FieldTable field_table_group = {
        .what = "group",
        .rows = group_rows,
        .n_rows = N_ELEMENTS(group_rows),
};
const FieldTable field_table_plan = {
        .what = "plan entry",
        .rows = plan_rows,
        .n_rows = N_ELEMENTS(plan_rows),
        .size = sizeof(VfiodPlanEntry),
};
const FieldTable field_table_explanation = {
        .what = "explanation",
        .rows = explanation_rows,
        .n_rows = N_ELEMENTS(explanation_rows),
        .size = sizeof(VfiodExplanation),
};
const FieldTable field_table_assignment = {
        .what = "persistent assignment",
        .rows = assignment_rows,
        .n_rows = N_ELEMENTS(assignment_rows),
        .size = sizeof(VfiodAssignment),
};
const FieldTable field_table_node = {
        .what = "node",
        .rows = node_rows,
        .n_rows = N_ELEMENTS(node_rows),
        .size = sizeof(VfiodNode),
};

const FieldTable *const field_tables[] = {
        &field_table_device, &field_table_group,      &field_table_plan, &field_table_explanation,
        &field_table_slot,   &field_table_assignment, &field_table_node, NULL,
};

const FieldRow *field_table_find_key(const FieldTable *table, const char *key) {
        for (size_t i = 0; i < table->n_rows; i++)
                if (table->rows[i].key && strcmp(table->rows[i].key, key) == 0)
                        return &table->rows[i];
        return NULL;
}

const FieldRow *field_table_find_property(const FieldTable *table, const char *property) {
        for (size_t i = 0; i < table->n_rows; i++)
                if (table->rows[i].property && strcmp(table->rows[i].property, property) == 0)
                        return &table->rows[i];
        return NULL;
}
