/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-reply.c: turns the service's aa{sv} replies into plain structs.
 *
 * One table per dictionary says which keys we know, their D-Bus type and
 * where they go.  Unknown keys are skipped, so a newer service can add
 * keys without breaking older clients; a known key with another type is a
 * protocol error (-EBADMSG), never a silent zero.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "vfiod-private.h"

typedef enum {
        FIELD_STRING,
        FIELD_UINT16,
        FIELD_UINT32,
        FIELD_BOOL,
        FIELD_UINT32_ARRAY, /* au: a uint32_t * at offset, its length at count_offset */
        FIELD_STRING_ARRAY, /* as: a char ** at offset, its length at count_offset */
} FieldType;

typedef struct {
        const char *key;
        FieldType type;
        size_t offset;       /* of the value in the struct */
        ssize_t seen_offset; /* of a bool set when the key is present, or -1 */
        size_t count_offset; /* FIELD_*_ARRAY: of its size_t length */
        bool omit_empty;     /* the service leaves it out when "" or empty */
} Field;

static const Field device_fields[] = {
        {VFIOD_KEY_ADDRESS, FIELD_STRING, offsetof(VfiodDevice, address), -1},
        {VFIOD_KEY_GROUP, FIELD_UINT32, offsetof(VfiodDevice, group), offsetof(VfiodDevice, has_group)},
        {VFIOD_KEY_VENDOR_ID, FIELD_UINT16, offsetof(VfiodDevice, vendor_id), -1},
        {VFIOD_KEY_DEVICE_ID, FIELD_UINT16, offsetof(VfiodDevice, device_id), -1},
        {VFIOD_KEY_SUBSYSTEM_VENDOR_ID, FIELD_UINT16, offsetof(VfiodDevice, subsystem_vendor_id), -1},
        {VFIOD_KEY_SUBSYSTEM_DEVICE_ID, FIELD_UINT16, offsetof(VfiodDevice, subsystem_device_id), -1},
        {VFIOD_KEY_CLASS, FIELD_UINT32, offsetof(VfiodDevice, class_code), -1},
        {VFIOD_KEY_VENDOR, FIELD_STRING, offsetof(VfiodDevice, vendor), -1},
        {VFIOD_KEY_NAME, FIELD_STRING, offsetof(VfiodDevice, name), -1},
        {VFIOD_KEY_DRIVER, FIELD_STRING, offsetof(VfiodDevice, driver), -1},
        {VFIOD_KEY_STATE, FIELD_STRING, offsetof(VfiodDevice, state), -1},
        {VFIOD_KEY_BRIDGE, FIELD_BOOL, offsetof(VfiodDevice, bridge), -1},
        {VFIOD_KEY_IN_USE, FIELD_STRING, offsetof(VfiodDevice, in_use), -1},
        {VFIOD_KEY_GRANTED_UIDS, FIELD_UINT32_ARRAY, offsetof(VfiodDevice, granted_uids), -1,
         offsetof(VfiodDevice, n_granted_uids), true},
        {VFIOD_KEY_PERSISTENT, FIELD_STRING, offsetof(VfiodDevice, persistent), -1, 0, true},
        {VFIOD_KEY_RESET_METHODS, FIELD_STRING_ARRAY, offsetof(VfiodDevice, reset_methods),
         offsetof(VfiodDevice, has_reset_methods), offsetof(VfiodDevice, n_reset_methods)},
        {VFIOD_KEY_OWNER_UID, FIELD_UINT32, offsetof(VfiodDevice, owner_uid),
         offsetof(VfiodDevice, has_owner_uid)},
};

static const Field assignment_fields[] = {
        {VFIOD_KEY_ADDRESS, FIELD_STRING, offsetof(VfiodAssignment, address), -1},
        {VFIOD_KEY_RECORD, FIELD_STRING, offsetof(VfiodAssignment, record), -1},
        {VFIOD_KEY_PERSISTENT, FIELD_STRING, offsetof(VfiodAssignment, persistent), -1},
        {VFIOD_KEY_VENDOR_ID, FIELD_UINT16, offsetof(VfiodAssignment, vendor_id),
         offsetof(VfiodAssignment, has_ids)},
        {VFIOD_KEY_DEVICE_ID, FIELD_UINT16, offsetof(VfiodAssignment, device_id),
         offsetof(VfiodAssignment, has_ids)},
        {VFIOD_KEY_SUBSYSTEM_VENDOR_ID, FIELD_UINT16, offsetof(VfiodAssignment, subsystem_vendor_id),
         offsetof(VfiodAssignment, has_ids)},
        {VFIOD_KEY_SUBSYSTEM_DEVICE_ID, FIELD_UINT16, offsetof(VfiodAssignment, subsystem_device_id),
         offsetof(VfiodAssignment, has_ids)},
        {VFIOD_KEY_CLASS, FIELD_UINT32, offsetof(VfiodAssignment, class_code),
         offsetof(VfiodAssignment, has_ids)},
        {VFIOD_KEY_MEMBERS, FIELD_STRING_ARRAY, offsetof(VfiodAssignment, members), -1,
         offsetof(VfiodAssignment, n_members), true},
        {VFIOD_KEY_DRIVER, FIELD_STRING, offsetof(VfiodAssignment, driver), -1},
};

static const Field plan_fields[] = {
        {VFIOD_KEY_ADDRESS, FIELD_STRING, offsetof(VfiodPlanEntry, address), -1},
        {VFIOD_KEY_ACTION, FIELD_STRING, offsetof(VfiodPlanEntry, action), -1},
        {VFIOD_KEY_FROM, FIELD_STRING, offsetof(VfiodPlanEntry, from), -1},
        {VFIOD_KEY_TO, FIELD_STRING, offsetof(VfiodPlanEntry, to), -1},
        {VFIOD_KEY_REASON, FIELD_STRING, offsetof(VfiodPlanEntry, reason), -1},
};

static const Field node_fields[] = {
        {VFIOD_KEY_PATH, FIELD_STRING, offsetof(VfiodNode, path), -1},
        {VFIOD_KEY_UID, FIELD_UINT32, offsetof(VfiodNode, uid), -1},
};

static const Field explanation_fields[] = {
        {VFIOD_KEY_GROUP, FIELD_UINT32, offsetof(VfiodExplanation, group), -1},
        {VFIOD_KEY_CAUSE, FIELD_STRING, offsetof(VfiodExplanation, cause), -1},
        {VFIOD_KEY_CAUSE_DEVICE, FIELD_STRING, offsetof(VfiodExplanation, cause_device), -1},
        {VFIOD_KEY_EXPLANATION, FIELD_STRING, offsetof(VfiodExplanation, explanation), -1},
        {VFIOD_KEY_ADVICE, FIELD_STRING, offsetof(VfiodExplanation, advice), -1},
        {VFIOD_KEY_RESET_METHODS, FIELD_STRING_ARRAY, offsetof(VfiodExplanation, reset_methods), -1,
         offsetof(VfiodExplanation, n_reset_methods)},
        {VFIOD_KEY_RESET_WARNING, FIELD_STRING, offsetof(VfiodExplanation, reset_warning), -1},
};

static const Field slot_fields[] = {
        {VFIOD_KEY_PORT, FIELD_STRING, offsetof(VfiodIsolatingSlot, port), -1},
        {VFIOD_KEY_SLOT, FIELD_STRING, offsetof(VfiodIsolatingSlot, slot), -1},
        {VFIOD_KEY_OCCUPANT, FIELD_STRING_ARRAY, offsetof(VfiodIsolatingSlot, occupants), -1,
         offsetof(VfiodIsolatingSlot, n_occupants)},
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const char *field_signature(FieldType type) {
        switch (type) {
        case FIELD_STRING: return "s";
        case FIELD_UINT16: return "q";
        case FIELD_UINT32: return "u";
        case FIELD_BOOL: return "b";
        case FIELD_UINT32_ARRAY: return "au";
        case FIELD_STRING_ARRAY: return "as";
        }
        abort();
}

static void strv_free(char **strv) {
        for (size_t i = 0; strv && strv[i]; i++)
                free(strv[i]);
        free(strv);
}

static const Field *field_find(const Field *fields, size_t n_fields, const char *key) {
        for (size_t i = 0; i < n_fields; i++)
                if (strcmp(fields[i].key, key) == 0)
                        return &fields[i];
        return NULL;
}

/* A failure of sd-bus while reading the reply: anything but ENOMEM means
 * the reply does not have the shape the contract promises. */
static int reply_error(VfiodError *error, int r, const char *what, size_t index) {
        if (r == -ENOMEM)
                return error_set_local(error, ENOMEM, "Out of memory");
        return error_set_local(error, EBADMSG,
                               "Unexpected reply from the vfio service: %s %zu is malformed (%s)", what,
                               index, strerror(-r));
}

static int field_read(sd_bus_message *m, const Field *field, void *object, const char *what, size_t index,
                      VfiodError *error) {
        const char *signature = field_signature(field->type);
        const char *contents = NULL;
        char type = 0;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return reply_error(error, r, what, index);
        if (r == 0 || type != SD_BUS_TYPE_VARIANT || !contents)
                return reply_error(error, -EBADMSG, what, index);
        if (strcmp(contents, signature) != 0)
                return error_set_local(error, EBADMSG,
                                       "Unexpected reply from the vfio service: key '%s' of %s %zu "
                                       "has type '%s', expected '%s'",
                                       field->key, what, index, contents, signature);

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, signature);
        if (r < 0)
                return reply_error(error, r, what, index);

        char *slot = (char *) object + field->offset;
        switch (field->type) {
        case FIELD_STRING: {
                const char *s;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &s);
                if (r < 0)
                        return reply_error(error, r, what, index);
                char *copy = strdup(s);
                if (!copy)
                        return error_set_local(error, ENOMEM, "Out of memory");
                char **target = (char **) (void *) slot;
                free(*target); /* a repeated key: the last one wins */
                *target = copy;
                break;
        }
        case FIELD_UINT16: {
                uint16_t v;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT16, &v);
                if (r < 0)
                        return reply_error(error, r, what, index);
                memcpy(slot, &v, sizeof(v));
                break;
        }
        case FIELD_UINT32: {
                uint32_t v;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_UINT32, &v);
                if (r < 0)
                        return reply_error(error, r, what, index);
                memcpy(slot, &v, sizeof(v));
                break;
        }
        case FIELD_BOOL: {
                int v;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_BOOLEAN, &v);
                if (r < 0)
                        return reply_error(error, r, what, index);
                bool b = v != 0;
                memcpy(slot, &b, sizeof(b));
                break;
        }
        case FIELD_UINT32_ARRAY: {
                const void *array;
                size_t size = 0;
                r = sd_bus_message_read_array(m, SD_BUS_TYPE_UINT32, &array, &size);
                if (r < 0)
                        return reply_error(error, r, what, index);
                size_t n = size / sizeof(uint32_t);
                uint32_t *copy = calloc(n ? n : 1, sizeof(uint32_t));
                if (!copy)
                        return error_set_local(error, ENOMEM, "Out of memory");
                if (n)
                        memcpy(copy, array, n * sizeof(uint32_t));
                uint32_t **target = (uint32_t **) (void *) slot;
                free(*target); /* a repeated key: the last one wins */
                *target = copy;
                memcpy((char *) object + field->count_offset, &n, sizeof(n));
                break;
        }
        case FIELD_STRING_ARRAY: {
                char **strv = NULL;
                size_t n = 0;
                r = sd_bus_message_read_strv(m, &strv);
                if (r < 0)
                        return reply_error(error, r, what, index);
                if (!strv) {
                        strv = calloc(1, sizeof(char *));
                        if (!strv)
                                return error_set_local(error, ENOMEM, "Out of memory");
                }
                while (strv[n])
                        n++;
                char ***target = (char ***) (void *) slot;
                strv_free(*target); /* a repeated key: the last one wins */
                *target = strv;
                memcpy((char *) object + field->count_offset, &n, sizeof(n));
                break;
        }
        }

        if (field->seen_offset >= 0) {
                bool seen = true;
                memcpy((char *) object + field->seen_offset, &seen, sizeof(seen));
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return reply_error(error, r, what, index);
        return 0;
}

/* Reads one a{sv} into object.  Returns 1 when a dict was read, 0 at the
 * end of the enclosing array. */
static int dict_read(sd_bus_message *m, const Field *fields, size_t n_fields, void *object, const char *what,
                     size_t index, VfiodError *error) {
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return reply_error(error, r, what, index);
        if (r == 0)
                return 0;

        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return reply_error(error, r, what, index);
                if (r == 0)
                        break;

                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0)
                        return reply_error(error, r, what, index);

                const Field *field = field_find(fields, n_fields, key);
                if (field)
                        r = field_read(m, field, object, what, index, error);
                else {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                r = reply_error(error, r, what, index);
                }
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return reply_error(error, r, what, index);
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return reply_error(error, r, what, index);
        return 1;
}

/* Missing string keys become "" and missing string lists empty ones, so
 * callers never see NULL. */
static int dict_fill_strings(const Field *fields, size_t n_fields, void *object, VfiodError *error) {
        for (size_t i = 0; i < n_fields; i++) {
                if (fields[i].type == FIELD_STRING_ARRAY) {
                        char ***list = (char ***) (void *) ((char *) object + fields[i].offset);
                        if (!*list && !(*list = calloc(1, sizeof(char *))))
                                return error_set_local(error, ENOMEM, "Out of memory");
                        continue;
                }
                if (fields[i].type != FIELD_STRING)
                        continue;
                char **target = (char **) (void *) ((char *) object + fields[i].offset);
                if (*target)
                        continue;
                *target = strdup("");
                if (!*target)
                        return error_set_local(error, ENOMEM, "Out of memory");
        }
        return 0;
}

/* Reads aa{sv}, allocating one object of `size` per dict.  `free_item`
 * frees a partially filled object. */
static int dict_array_read(sd_bus_message *m, const Field *fields, size_t n_fields, size_t size,
                           void (*free_item)(void *), const char *what, void ***ret_items, size_t *ret_n,
                           VfiodError *error) {
        void **items = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        if (r < 0) {
                r = reply_error(error, r, what, 0);
                goto fail;
        }

        for (;;) {
                void *item = calloc(1, size);
                if (!item) {
                        r = error_set_local(error, ENOMEM, "Out of memory");
                        goto fail;
                }

                r = dict_read(m, fields, n_fields, item, what, n, error);
                if (r <= 0) {
                        free_item(item);
                        if (r < 0)
                                goto fail;
                        break;
                }

                void **grown = realloc(items, (n + 1) * sizeof(*items));
                if (!grown) {
                        free_item(item);
                        r = error_set_local(error, ENOMEM, "Out of memory");
                        goto fail;
                }
                items = grown;
                items[n++] = item;

                /* Every dictionary of both replies names its device. */
                char **address = (char **) (void *) ((char *) item + fields[0].offset);
                if (!*address || !**address) {
                        r = error_set_local(error, EBADMSG,
                                            "Unexpected reply from the vfio service: "
                                            "%s %zu has no '%s'",
                                            what, n - 1, fields[0].key);
                        goto fail;
                }
                r = dict_fill_strings(fields, n_fields, item, error);
                if (r < 0)
                        goto fail;
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                r = reply_error(error, r, what, n);
                goto fail;
        }

        *ret_items = items;
        *ret_n = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++)
                free_item(items[i]);
        free(items);
        return r;
}

/* Calls func for each key of object the service sent, in the table's
 * (the contract's) order, typed. */
static void dict_foreach(const Field *fields, size_t n_fields, const void *object, VfiodFieldFunc func,
                         void *userdata) {
        for (size_t i = 0; i < n_fields; i++) {
                const Field *f = &fields[i];
                const char *slot = (const char *) object + f->offset;
                VfiodField v = {.key = f->key};
                size_t count = 0;

                if (f->seen_offset >= 0) {
                        bool seen;
                        memcpy(&seen, (const char *) object + f->seen_offset, sizeof(seen));
                        if (!seen)
                                continue;
                }
                if (f->type == FIELD_UINT32_ARRAY || f->type == FIELD_STRING_ARRAY)
                        memcpy(&count, (const char *) object + f->count_offset, sizeof(count));

                switch (f->type) {
                case FIELD_STRING:
                        memcpy(&v.string, slot, sizeof(v.string));
                        v.type = VFIOD_FIELD_STRING;
                        if (f->omit_empty && (!v.string || !*v.string))
                                continue;
                        break;
                case FIELD_UINT16: {
                        uint16_t n;
                        memcpy(&n, slot, sizeof(n));
                        v.type = VFIOD_FIELD_NUMBER;
                        v.number = n;
                        break;
                }
                case FIELD_UINT32: {
                        uint32_t n;
                        memcpy(&n, slot, sizeof(n));
                        v.type = VFIOD_FIELD_NUMBER;
                        v.number = n;
                        break;
                }
                case FIELD_BOOL:
                        memcpy(&v.boolean, slot, sizeof(v.boolean));
                        v.type = VFIOD_FIELD_BOOLEAN;
                        break;
                case FIELD_UINT32_ARRAY:
                        memcpy(&v.numbers, slot, sizeof(v.numbers));
                        v.type = VFIOD_FIELD_NUMBER_LIST;
                        v.n_items = count;
                        if (f->omit_empty && count == 0)
                                continue;
                        break;
                case FIELD_STRING_ARRAY:
                        memcpy(&v.strings, slot, sizeof(v.strings));
                        v.type = VFIOD_FIELD_STRING_LIST;
                        v.n_items = count;
                        if (f->omit_empty && count == 0)
                                continue;
                        break;
                }
                func(&v, userdata);
        }
}

VFIOD_EXPORT void vfiod_device_foreach_field(const VfiodDevice *device, VfiodFieldFunc func,
                                             void *userdata) {
        if (device && func)
                dict_foreach(device_fields, N_ELEMENTS(device_fields), device, func, userdata);
}

VFIOD_EXPORT void vfiod_assignment_foreach_field(const VfiodAssignment *assignment, VfiodFieldFunc func,
                                                 void *userdata) {
        if (assignment && func)
                dict_foreach(assignment_fields, N_ELEMENTS(assignment_fields), assignment, func, userdata);
}

VFIOD_EXPORT void vfiod_plan_entry_foreach_field(const VfiodPlanEntry *entry, VfiodFieldFunc func,
                                                 void *userdata) {
        if (entry && func)
                dict_foreach(plan_fields, N_ELEMENTS(plan_fields), entry, func, userdata);
}

static void device_free(void *p) {
        VfiodDevice *d = p;
        if (!d)
                return;
        free(d->address);
        free(d->vendor);
        free(d->name);
        free(d->driver);
        free(d->state);
        free(d->in_use);
        free(d->granted_uids);
        free(d->persistent);
        strv_free(d->reset_methods);
        free(d);
}

static void assignment_free(void *p) {
        VfiodAssignment *a = p;
        if (!a)
                return;
        free(a->address);
        free(a->record);
        free(a->persistent);
        strv_free(a->members);
        free(a->driver);
        free(a);
}

VFIOD_EXPORT void vfiod_assignment_list_free(VfiodAssignmentList *list) {
        if (!list)
                return;
        for (size_t i = 0; i < list->n_assignments; i++)
                assignment_free(list->assignments[i]);
        free(list->assignments);
        free(list);
}

int reply_read_assignment_list(sd_bus_message *m, VfiodAssignmentList **ret, VfiodError *error) {
        VfiodAssignmentList *list;
        void **items;
        size_t n;
        int r;

        list = calloc(1, sizeof(*list));
        if (!list)
                return error_set_local(error, ENOMEM, "Out of memory");
        r = dict_array_read(m, assignment_fields, N_ELEMENTS(assignment_fields), sizeof(VfiodAssignment),
                            assignment_free, "persistent assignment", &items, &n, error);
        if (r < 0) {
                free(list);
                return r;
        }
        list->assignments = (VfiodAssignment **) items;
        list->n_assignments = n;
        *ret = list;
        return 0;
}

static void plan_entry_free(void *p) {
        VfiodPlanEntry *e = p;
        if (!e)
                return;
        free(e->address);
        free(e->action);
        free(e->from);
        free(e->to);
        free(e->reason);
        free(e);
}

VFIOD_EXPORT void vfiod_device_list_free(VfiodDeviceList *list) {
        if (!list)
                return;
        for (size_t i = 0; i < list->n_devices; i++)
                device_free(list->devices[i]);
        free(list->devices);
        free(list);
}

static void node_free(void *p) {
        VfiodNode *n = p;
        if (!n)
                return;
        free(n->path);
        free(n);
}

VFIOD_EXPORT void vfiod_node_list_free(VfiodNodeList *list) {
        if (!list)
                return;
        for (size_t i = 0; i < list->n_nodes; i++)
                node_free(list->nodes[i]);
        free(list->nodes);
        free(list);
}

int reply_read_node_list(sd_bus_message *m, VfiodNodeList **ret, VfiodError *error) {
        VfiodNodeList *list;
        void **items;
        size_t n;
        int r;

        list = calloc(1, sizeof(*list));
        if (!list)
                return error_set_local(error, ENOMEM, "Out of memory");
        r = dict_array_read(m, node_fields, N_ELEMENTS(node_fields), sizeof(VfiodNode), node_free, "node",
                            &items, &n, error);
        if (r < 0) {
                free(list);
                return r;
        }
        list->nodes = (VfiodNode **) items;
        list->n_nodes = n;
        *ret = list;
        return 0;
}

VFIOD_EXPORT void vfiod_plan_free(VfiodPlan *plan) {
        if (!plan)
                return;
        for (size_t i = 0; i < plan->n_entries; i++)
                plan_entry_free(plan->entries[i]);
        free(plan->entries);
        free(plan);
}

int reply_read_device_list(sd_bus_message *m, VfiodDeviceList **ret, VfiodError *error) {
        VfiodDeviceList *list;
        void **items;
        size_t n;
        int r;

        list = calloc(1, sizeof(*list));
        if (!list)
                return error_set_local(error, ENOMEM, "Out of memory");

        r = dict_array_read(m, device_fields, N_ELEMENTS(device_fields), sizeof(VfiodDevice), device_free,
                            "device", &items, &n, error);
        if (r < 0) {
                free(list);
                return r;
        }

        list->devices = (VfiodDevice **) items;
        list->n_devices = n;
        *ret = list;
        return 0;
}

int reply_read_plan(sd_bus_message *m, VfiodPlan **ret, VfiodError *error) {
        VfiodPlan *plan;
        void **items;
        size_t n;
        int r;

        plan = calloc(1, sizeof(*plan));
        if (!plan)
                return error_set_local(error, ENOMEM, "Out of memory");

        r = dict_array_read(m, plan_fields, N_ELEMENTS(plan_fields), sizeof(VfiodPlanEntry), plan_entry_free,
                            "plan entry", &items, &n, error);
        if (r < 0) {
                free(plan);
                return r;
        }

        plan->entries = (VfiodPlanEntry **) items;
        plan->n_entries = n;
        *ret = plan;
        return 0;
}

/* ---- ExplainGroup ----------------------------------------------------- */

static void slot_free(void *p) {
        VfiodIsolatingSlot *s = p;
        if (!s)
                return;
        free(s->port);
        free(s->slot);
        strv_free(s->occupants);
        free(s);
}

VFIOD_EXPORT void vfiod_explanation_free(VfiodExplanation *e) {
        if (!e)
                return;
        free(e->cause);
        free(e->cause_device);
        free(e->explanation);
        free(e->advice);
        free(e->reset_warning);
        strv_free(e->reset_methods);
        for (size_t i = 0; i < e->n_isolating_slots; i++)
                slot_free(e->isolating_slots[i]);
        free(e->isolating_slots);
        free(e);
}

VFIOD_EXPORT void vfiod_explanation_foreach_field(const VfiodExplanation *e, VfiodFieldFunc func,
                                                  void *userdata) {
        if (e && func)
                dict_foreach(explanation_fields, N_ELEMENTS(explanation_fields), e, func, userdata);
}

VFIOD_EXPORT void vfiod_isolating_slot_foreach_field(const VfiodIsolatingSlot *s, VfiodFieldFunc func,
                                                     void *userdata) {
        if (s && func)
                dict_foreach(slot_fields, N_ELEMENTS(slot_fields), s, func, userdata);
}

/* The a{sv}: the plain keys by the table, "isolating_slots" (aa{sv}) by
 * the slot table; unknown keys skipped, a known one of another type is
 * -EBADMSG. */
int reply_read_explanation(sd_bus_message *m, VfiodExplanation **ret, VfiodError *error) {
        VfiodExplanation *e = calloc(1, sizeof(*e));
        bool has_group = false, has_cause = false;
        int r;

        if (!e)
                return error_set_local(error, ENOMEM, "Out of memory");
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r <= 0) {
                r = reply_error(error, r < 0 ? r : -EBADMSG, "explanation", 0);
                goto fail;
        }
        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0) {
                        r = reply_error(error, r, "explanation", 0);
                        goto fail;
                }
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0) {
                        r = reply_error(error, r, "explanation", 0);
                        goto fail;
                }
                if (strcmp(key, VFIOD_KEY_ISOLATING_SLOTS) == 0) {
                        void **items = NULL;
                        size_t n = 0;
                        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, "aa{sv}");
                        if (r <= 0) {
                                r = error_set_local(error, EBADMSG,
                                                    "Unexpected reply from the vfio service: key '%s' "
                                                    "of the explanation is not of type 'aa{sv}'",
                                                    key);
                                goto fail;
                        }
                        r = dict_array_read(m, slot_fields, N_ELEMENTS(slot_fields),
                                            sizeof(VfiodIsolatingSlot), slot_free, "isolating slot", &items,
                                            &n, error);
                        if (r < 0)
                                goto fail;
                        for (size_t i = 0; i < e->n_isolating_slots; i++) /* a repeated key */
                                slot_free(e->isolating_slots[i]);
                        free(e->isolating_slots);
                        e->isolating_slots = (VfiodIsolatingSlot **) items;
                        e->n_isolating_slots = n;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0) {
                                r = reply_error(error, r, "explanation", 0);
                                goto fail;
                        }
                } else {
                        const Field *f = field_find(explanation_fields, N_ELEMENTS(explanation_fields), key);
                        if (f) {
                                r = field_read(m, f, e, "explanation", 0, error); /* sets error */
                                if (r < 0)
                                        goto fail;
                                has_group = has_group || strcmp(key, VFIOD_KEY_GROUP) == 0;
                                has_cause = has_cause || strcmp(key, VFIOD_KEY_CAUSE) == 0;
                        } else if ((r = sd_bus_message_skip(m, "v")) < 0) {
                                r = reply_error(error, r, "explanation", 0);
                                goto fail;
                        }
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0) {
                        r = reply_error(error, r, "explanation", 0);
                        goto fail;
                }
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0) {
                r = reply_error(error, r, "explanation", 0);
                goto fail;
        }
        if (!has_group || !has_cause) {
                r = error_set_local(error, EBADMSG,
                                    "Unexpected reply from the vfio service: the explanation has no "
                                    "'%s' or '%s'",
                                    VFIOD_KEY_GROUP, VFIOD_KEY_CAUSE);
                goto fail;
        }
        r = dict_fill_strings(explanation_fields, N_ELEMENTS(explanation_fields), e, error);
        if (r < 0)
                goto fail;
        if (!e->isolating_slots && !(e->isolating_slots = calloc(1, sizeof(*e->isolating_slots)))) {
                r = error_set_local(error, ENOMEM, "Out of memory");
                goto fail;
        }
        *ret = e;
        return 0;
fail:
        vfiod_explanation_free(e);
        return r;
}
