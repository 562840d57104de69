/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-reply.c: turns the service's aa{sv} replies into plain structs.
 *
 * One table per dictionary (vfiod-fields.c, built from the contract's
 * rows in common/vfiod-fields.h) says which keys we know, their D-Bus
 * type and where they go; every value is read by the one value model
 * (vfiod-value.c).  Unknown keys are skipped, so a newer service can add
 * keys without breaking older clients; a known key with another type is a
 * protocol error (-EBADMSG), never a silent zero.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "vfiod-private.h"

static void strv_free(char **strv) {
        for (size_t i = 0; strv && strv[i]; i++)
                free(strv[i]);
        free(strv);
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

#define MEMBER(object, binding, offset) ((char *) (object) + (binding)->offset)

static int dict_array_read(sd_bus_message *m, const FieldTable *table, void ***ret_items, size_t *ret_n,
                           VfiodError *error);

/* Moves *v, read by the row's key signature, into the member of object
 * the row is bound to.  A repeated key: the last one wins. */
static void field_store(const FieldRow *row, void *object, VfiodValue *v) {
        const FieldBinding *b = row->binding;
        char *slot = MEMBER(object, b, offset);

        switch (row->key_signature[0]) {
        case 's': {
                char **target = (char **) (void *) slot;
                free(*target);
                *target = v->text;
                v->text = NULL;
                break;
        }
        case 'q': {
                uint16_t n = (uint16_t) v->number;
                memcpy(slot, &n, sizeof(n));
                break;
        }
        case 'u': {
                uint32_t n = (uint32_t) v->number;
                memcpy(slot, &n, sizeof(n));
                break;
        }
        case 'b': {
                bool x = v->boolean;
                memcpy(slot, &x, sizeof(x));
                break;
        }
        case 'a':
                if (row->key_signature[1] == 'u') {
                        uint32_t **target = (uint32_t **) (void *) slot;
                        free(*target);
                        *target = v->numbers;
                        v->numbers = NULL;
                } else {
                        char ***target = (char ***) (void *) slot;
                        strv_free(*target);
                        *target = v->items;
                        v->items = NULL;
                }
                memcpy(MEMBER(object, b, count_offset), &v->n_items, sizeof(size_t));
                v->n_items = 0;
                break;
        }
        value_clear(v);
}

static void field_set_seen(const FieldRow *row, void *object) {
        if (row->binding->has_seen) {
                bool seen = true;
                memcpy(MEMBER(object, row->binding, seen_offset), &seen, sizeof(seen));
        }
}

static void nested_free(const FieldTable *table, void *p);

/* The value of a bound key, typed as the row says. */
static int field_read(sd_bus_message *m, const FieldRow *row, void *object, const char *what, size_t index,
                      VfiodError *error) {
        const FieldBinding *b = row->binding;
        VfiodValue v = {.type = VFIOD_VALUE_NULL};
        const char *contents = NULL;
        int r;

        if (b->nested) {
                void **items = NULL, ***target = (void ***) (void *) MEMBER(object, b, offset);
                size_t n = 0, old_n;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, row->key_signature);
                if (r <= 0)
                        return error_set_local(error, EBADMSG,
                                               "Unexpected reply from the vfio service: key '%s' "
                                               "of the %s is not of type '%s'",
                                               row->key, what, row->key_signature);
                r = dict_array_read(m, b->nested, &items, &n, error);
                if (r < 0)
                        return r;
                memcpy(&old_n, MEMBER(object, b, count_offset), sizeof(old_n));
                for (size_t i = 0; *target && i < old_n; i++) /* a repeated key */
                        nested_free(b->nested, (*target)[i]);
                free(*target);
                *target = items;
                memcpy(MEMBER(object, b, count_offset), &n, sizeof(n));
                r = sd_bus_message_exit_container(m);
                return r < 0 ? reply_error(error, r, what, index) : 0;
        }

        r = value_read_variant(m, row->key_signature, b->format, &v, &contents);
        if (r == -EBADMSG && contents)
                return error_set_local(error, EBADMSG,
                                       "Unexpected reply from the vfio service: key '%s' of %s %zu "
                                       "has type '%s', expected '%s'",
                                       row->key, what, index, contents, row->key_signature);
        if (r <= 0)
                return reply_error(error, r < 0 ? r : -EBADMSG, what, index);
        field_store(row, object, &v);
        field_set_seen(row, object);
        return 0;
}

/* Reads one a{sv} into object.  Returns 1 when a dict was read, 0 at the
 * end of the enclosing array. */
static int dict_read(sd_bus_message *m, const FieldTable *table, void *object, size_t index, uint64_t *seen,
                     VfiodError *error) {
        int r;

        *seen = 0;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return reply_error(error, r, table->what, index);
        if (r == 0)
                return 0;

        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r < 0)
                        return reply_error(error, r, table->what, index);
                if (r == 0)
                        break;

                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0)
                        return reply_error(error, r, table->what, index);

                const FieldRow *row = field_table_find_key(table, key);
                if (row && row->binding->bound) {
                        r = field_read(m, row, object, table->what, index, error);
                        *seen |= UINT64_C(1) << (row - table->rows);
                } else {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                r = reply_error(error, r, table->what, index);
                }
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return reply_error(error, r, table->what, index);
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return reply_error(error, r, table->what, index);
        return 1;
}

/* Whether each required key was there (`seen`: a bit per row), a string
 * one not empty. */
static bool dict_has_required(const FieldTable *table, const void *object, uint64_t seen,
                              const FieldRow **ret_missing) {
        for (size_t i = 0; i < table->n_rows; i++) {
                const FieldRow *row = &table->rows[i];
                char *s = NULL;

                if (!row->key || !row->binding->required)
                        continue;
                if (row->key_signature[0] == 's')
                        memcpy(&s, (const char *) object + row->binding->offset, sizeof(s));
                if (!(seen & (UINT64_C(1) << i)) || (row->key_signature[0] == 's' && (!s || !*s))) {
                        *ret_missing = row;
                        return false;
                }
        }
        return true;
}

/* Missing string keys become "" and missing lists empty ones, so callers
 * never see NULL. */
static int dict_fill_strings(const FieldTable *table, void *object, VfiodError *error) {
        for (size_t i = 0; i < table->n_rows; i++) {
                const FieldRow *row = &table->rows[i];
                bool string = row->key && strcmp(row->key_signature, "s") == 0;
                bool list = row->key && (strcmp(row->key_signature, "as") == 0 || row->binding->nested);

                if (!row->binding->bound || !(string || list))
                        continue;
                void **target = (void **) (void *) MEMBER(object, row->binding, offset);
                if (*target)
                        continue;
                *target = string ? (void *) strdup("") : calloc(1, sizeof(void *));
                if (!*target)
                        return error_set_local(error, ENOMEM, "Out of memory");
        }
        return 0;
}

/* Frees an object of a table: its strings, lists and nested objects. */
static void nested_free(const FieldTable *table, void *p) {
        if (!p)
                return;
        for (size_t i = 0; i < table->n_rows; i++) {
                const FieldRow *row = &table->rows[i];
                const FieldBinding *b = row->binding;
                if (!row->key || !b->bound)
                        continue;
                if (b->nested) {
                        void **items;
                        size_t n;
                        memcpy(&items, MEMBER(p, b, offset), sizeof(items));
                        memcpy(&n, MEMBER(p, b, count_offset), sizeof(n));
                        for (size_t k = 0; items && k < n; k++)
                                nested_free(b->nested, items[k]);
                        free(items);
                } else if (strcmp(row->key_signature, "as") == 0) {
                        char **strv;
                        memcpy(&strv, MEMBER(p, b, offset), sizeof(strv));
                        strv_free(strv);
                } else if (strcmp(row->key_signature, "s") == 0 || strcmp(row->key_signature, "au") == 0) {
                        void *q;
                        memcpy(&q, MEMBER(p, b, offset), sizeof(q));
                        free(q);
                }
        }
        free(p);
}

/* Reads aa{sv}, allocating one object of the table's struct per dict. */
static int dict_array_read(sd_bus_message *m, const FieldTable *table, void ***ret_items, size_t *ret_n,
                           VfiodError *error) {
        const char *what = table->what;
        void **items = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        if (r < 0) {
                r = reply_error(error, r, what, 0);
                goto fail;
        }

        for (;;) {
                void *item = calloc(1, table->size);
                if (!item) {
                        r = error_set_local(error, ENOMEM, "Out of memory");
                        goto fail;
                }

                uint64_t seen;
                r = dict_read(m, table, item, n, &seen, error);
                if (r <= 0) {
                        nested_free(table, item);
                        if (r < 0)
                                goto fail;
                        break;
                }

                void **grown = realloc(items, (n + 1) * sizeof(*items));
                if (!grown) {
                        nested_free(table, item);
                        r = error_set_local(error, ENOMEM, "Out of memory");
                        goto fail;
                }
                items = grown;
                items[n++] = item;

                const FieldRow *missing;
                if (!dict_has_required(table, item, seen, &missing)) {
                        r = error_set_local(error, EBADMSG,
                                            "Unexpected reply from the vfio service: %s %zu has no '%s'",
                                            what, n - 1, missing->key);
                        goto fail;
                }
                r = dict_fill_strings(table, item, error);
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
                nested_free(table, items[i]);
        free(items);
        return r;
}

/* Calls func for each key of object the service sent, in the table's
 * (the contract's) order, typed; nested dictionaries are left out. */
static void dict_foreach(const FieldTable *table, const void *object, VfiodFieldFunc func, void *userdata) {
        for (size_t i = 0; i < table->n_rows; i++) {
                const FieldRow *row = &table->rows[i];
                const FieldBinding *b = row->binding;
                const char *slot;
                VfiodValue value = {.type = VFIOD_VALUE_NULL};
                VfiodField f = {.key = row->key, .value = &value};
                char *text = NULL;

                if (!row->key || !b->bound || b->nested)
                        continue;
                slot = (const char *) object + b->offset;
                if (b->has_seen) {
                        bool seen;
                        memcpy(&seen, (const char *) object + b->seen_offset, sizeof(seen));
                        if (!seen)
                                continue;
                }
                if (b->has_count)
                        memcpy(&f.n_items, (const char *) object + b->count_offset, sizeof(f.n_items));

                switch (row->key_signature[0]) {
                case 's':
                        memcpy(&f.string, slot, sizeof(f.string));
                        if (b->omit_empty && (!f.string || !*f.string))
                                continue;
                        f.type = VFIOD_FIELD_STRING;
                        value.type = VFIOD_VALUE_STRING;
                        break;
                case 'q': {
                        uint16_t n;
                        memcpy(&n, slot, sizeof(n));
                        f.type = VFIOD_FIELD_NUMBER;
                        f.number = n;
                        break;
                }
                case 'u': {
                        uint32_t n;
                        memcpy(&n, slot, sizeof(n));
                        f.type = VFIOD_FIELD_NUMBER;
                        f.number = n;
                        break;
                }
                case 'b':
                        memcpy(&f.boolean, slot, sizeof(f.boolean));
                        f.type = VFIOD_FIELD_BOOLEAN;
                        value.type = VFIOD_VALUE_BOOLEAN;
                        break;
                case 'a':
                        if (b->omit_empty && f.n_items == 0)
                                continue;
                        if (row->key_signature[1] == 'u') {
                                memcpy(&f.numbers, slot, sizeof(f.numbers));
                                f.type = VFIOD_FIELD_NUMBER_LIST;
                                value.type = VFIOD_VALUE_NUMBER_LIST;
                                value.numbers = (uint32_t *) f.numbers;
                        } else {
                                memcpy(&f.strings, slot, sizeof(f.strings));
                                f.type = VFIOD_FIELD_STRING_LIST;
                                value.type = VFIOD_VALUE_LIST;
                                value.items = (char **) f.strings;
                        }
                        value.n_items = f.n_items;
                        break;
                default: continue;
                }
                if (f.type == VFIOD_FIELD_NUMBER)
                        value.type = VFIOD_VALUE_NUMBER;
                value.number = f.number;
                value.boolean = f.boolean;

                /* the same value, in the one value model (its text is
                 * written for the call only) */
                if (value.type == VFIOD_VALUE_STRING)
                        value.text = (char *) (f.string ? f.string : "");
                else if (value_format_text(&value, b->format, &text) >= 0)
                        value.text = text;
                else
                        value.text = (char *) "";
                func(&f, userdata);
                free(text);
        }
}

VFIOD_EXPORT void vfiod_device_foreach_field(const VfiodDevice *device, VfiodFieldFunc func,
                                             void *userdata) {
        if (device && func)
                dict_foreach(&field_table_device, device, func, userdata);
}

VFIOD_EXPORT void vfiod_assignment_foreach_field(const VfiodAssignment *assignment, VfiodFieldFunc func,
                                                 void *userdata) {
        if (assignment && func)
                dict_foreach(&field_table_assignment, assignment, func, userdata);
}

VFIOD_EXPORT void vfiod_plan_entry_foreach_field(const VfiodPlanEntry *entry, VfiodFieldFunc func,
                                                 void *userdata) {
        if (entry && func)
                dict_foreach(&field_table_plan, entry, func, userdata);
}

VFIOD_EXPORT void vfiod_explanation_foreach_field(const VfiodExplanation *e, VfiodFieldFunc func,
                                                  void *userdata) {
        if (e && func)
                dict_foreach(&field_table_explanation, e, func, userdata);
}

VFIOD_EXPORT void vfiod_isolating_slot_foreach_field(const VfiodIsolatingSlot *s, VfiodFieldFunc func,
                                                     void *userdata) {
        if (s && func)
                dict_foreach(&field_table_slot, s, func, userdata);
}

VFIOD_EXPORT void vfiod_node_foreach_field(const VfiodNode *node, VfiodFieldFunc func, void *userdata) {
        if (node && func)
                dict_foreach(&field_table_node, node, func, userdata);
}

/* ---- the lists ---------------------------------------------------------- */

/* Each reply is an aa{sv} of one table's dictionaries: `list` is a struct
 * of a size_t count at `n_offset` and the array of objects at
 * `items_offset`. */
static int list_read(sd_bus_message *m, const FieldTable *table, size_t list_size, size_t n_offset,
                     size_t items_offset, void **ret, VfiodError *error) {
        char *list;
        void **items;
        size_t n;
        int r;

        list = calloc(1, list_size);
        if (!list)
                return error_set_local(error, ENOMEM, "Out of memory");
        r = dict_array_read(m, table, &items, &n, error);
        if (r < 0) {
                free(list);
                return r;
        }
        memcpy(list + n_offset, &n, sizeof(n));
        memcpy(list + items_offset, &items, sizeof(items));
        *ret = list;
        return 0;
}

static void list_free(const FieldTable *table, void **items, size_t n, void *list) {
        for (size_t i = 0; i < n; i++)
                nested_free(table, items[i]);
        free(items);
        free(list);
}

#define LIST_READ(m, table, type, n_member, items_member, ret, error)                             \
        list_read(m, table, sizeof(type), offsetof(type, n_member), offsetof(type, items_member), \
                  (void **) (ret), error)

int reply_read_device_list(sd_bus_message *m, VfiodDeviceList **ret, VfiodError *error) {
        return LIST_READ(m, &field_table_device, VfiodDeviceList, n_devices, devices, ret, error);
}

int reply_read_plan(sd_bus_message *m, VfiodPlan **ret, VfiodError *error) {
        return LIST_READ(m, &field_table_plan, VfiodPlan, n_entries, entries, ret, error);
}

int reply_read_assignment_list(sd_bus_message *m, VfiodAssignmentList **ret, VfiodError *error) {
        return LIST_READ(m, &field_table_assignment, VfiodAssignmentList, n_assignments, assignments, ret,
                         error);
}

int reply_read_node_list(sd_bus_message *m, VfiodNodeList **ret, VfiodError *error) {
        return LIST_READ(m, &field_table_node, VfiodNodeList, n_nodes, nodes, ret, error);
}

VFIOD_EXPORT void vfiod_device_list_free(VfiodDeviceList *list) {
        if (list)
                list_free(&field_table_device, (void **) list->devices, list->n_devices, list);
}

VFIOD_EXPORT void vfiod_plan_free(VfiodPlan *plan) {
        if (plan)
                list_free(&field_table_plan, (void **) plan->entries, plan->n_entries, plan);
}

VFIOD_EXPORT void vfiod_assignment_list_free(VfiodAssignmentList *list) {
        if (list)
                list_free(&field_table_assignment, (void **) list->assignments, list->n_assignments, list);
}

VFIOD_EXPORT void vfiod_node_list_free(VfiodNodeList *list) {
        if (list)
                list_free(&field_table_node, (void **) list->nodes, list->n_nodes, list);
}

/* ---- ExplainGroup ----------------------------------------------------- */

VFIOD_EXPORT void vfiod_explanation_free(VfiodExplanation *e) {
        nested_free(&field_table_explanation, e);
}

/* One a{sv}, by the table (isolating_slots by the slot table); unknown
 * keys skipped, a known one of another type is -EBADMSG, the required
 * ones (group, cause) must be there. */
int reply_read_explanation(sd_bus_message *m, VfiodExplanation **ret, VfiodError *error) {
        const FieldTable *table = &field_table_explanation;
        VfiodExplanation *e = calloc(1, sizeof(*e));
        const FieldRow *missing;
        uint64_t seen;
        int r;

        if (!e)
                return error_set_local(error, ENOMEM, "Out of memory");
        r = dict_read(m, table, e, 0, &seen, error);
        if (r == 0)
                r = reply_error(error, -EBADMSG, table->what, 0);
        if (r < 0)
                goto fail;
        if (!dict_has_required(table, e, seen, &missing)) {
                r = error_set_local(error, EBADMSG,
                                    "Unexpected reply from the vfio service: the explanation has no '%s'",
                                    missing->key);
                goto fail;
        }
        r = dict_fill_strings(table, e, error);
        if (r < 0)
                goto fail;
        *ret = e;
        return 0;
fail:
        vfiod_explanation_free(e);
        return r;
}
