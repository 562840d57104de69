/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of libvfiod's field tables (vfiod-fields.c) against the
 * contract's rows (common/vfiod-fields.h): every row is there, in its
 * order, and every key has a decoder into a member of the right size and
 * every property a type the value model reads.  A row added to the
 * X-macros without a binding in vfiod-fields.c fails here.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "vfiod-fields.h"
#include "vfiod-private.h"

typedef struct {
        const char *id, *property, *property_signature, *key, *key_signature;
        int presence;
} Row;

#define ROW(id, property, property_signature, key, key_signature, presence) \
        {#id, property, property_signature, key, key_signature, presence},

static const Row device_rows[] = {VFIOD_DEVICE_FIELDS(ROW)};
static const Row group_rows[] = {VFIOD_GROUP_FIELDS(ROW)};
static const Row plan_rows[] = {VFIOD_PLAN_STEP_FIELDS(ROW)};
static const Row explanation_rows[] = {VFIOD_EXPLANATION_FIELDS(ROW)};
static const Row slot_rows[] = {VFIOD_SLOT_FIELDS(ROW)};
static const Row assignment_rows[] = {VFIOD_ASSIGNMENT_FIELDS(ROW)};
static const Row node_rows[] = {VFIOD_NODE_FIELDS(ROW)};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
        const char *name;
        const FieldTable *table;
        const Row *rows;
        size_t n_rows;
} cases[] = {
        {"VFIOD_DEVICE_FIELDS", &field_table_device, device_rows, N_ELEMENTS(device_rows)},
        {"VFIOD_GROUP_FIELDS", &field_table_group, group_rows, N_ELEMENTS(group_rows)},
        {"VFIOD_PLAN_STEP_FIELDS", &field_table_plan, plan_rows, N_ELEMENTS(plan_rows)},
        {"VFIOD_EXPLANATION_FIELDS", &field_table_explanation, explanation_rows,
         N_ELEMENTS(explanation_rows)},
        {"VFIOD_SLOT_FIELDS", &field_table_slot, slot_rows, N_ELEMENTS(slot_rows)},
        {"VFIOD_ASSIGNMENT_FIELDS", &field_table_assignment, assignment_rows, N_ELEMENTS(assignment_rows)},
        {"VFIOD_NODE_FIELDS", &field_table_node, node_rows, N_ELEMENTS(node_rows)},
};

/* Every row of every X-macro, in its order, with its names and types. */
static void test_rows(void) {
        size_t n_tables = 0;

        for (size_t c = 0; c < N_ELEMENTS(cases); c++) {
                const FieldTable *t = cases[c].table;

                g_test_message("%s", cases[c].name);
                g_assert_cmpuint(t->n_rows, ==, cases[c].n_rows);
                for (size_t i = 0; i < t->n_rows; i++) {
                        const Row *want = &cases[c].rows[i];
                        const FieldRow *row = &t->rows[i];

                        g_assert_cmpstr(row->id, ==, want->id);
                        g_assert_cmpstr(row->property, ==, want->property);
                        g_assert_cmpstr(row->property_signature, ==, want->property_signature);
                        g_assert_cmpstr(row->key, ==, want->key);
                        g_assert_cmpstr(row->key_signature, ==, want->key_signature);
                        g_assert_cmpint(row->presence, ==, want->presence);
                        g_assert_nonnull(row->binding);
                }
        }
        /* and every table is in the list the value model searches */
        while (field_tables[n_tables])
                n_tables++;
        g_assert_cmpuint(n_tables, ==, N_ELEMENTS(cases));
}

/* The size of the struct member a key of this signature is decoded into. */
static size_t member_size(const char *signature) {
        if (strcmp(signature, "s") == 0)
                return sizeof(char *);
        if (strcmp(signature, "q") == 0)
                return sizeof(uint16_t);
        if (strcmp(signature, "u") == 0)
                return sizeof(uint32_t);
        if (strcmp(signature, "b") == 0)
                return sizeof(bool);
        if (strcmp(signature, "au") == 0)
                return sizeof(uint32_t *);
        if (strcmp(signature, "as") == 0)
                return sizeof(char **);
        if (strcmp(signature, "aa{sv}") == 0)
                return sizeof(void **);
        return 0;
}

/* Every key has a decoder: bound, into a member of its size, lists with a
 * count, aa{sv} with the table of its dictionaries. */
static void test_keys_decoded(void) {
        for (size_t c = 0; c < N_ELEMENTS(cases); c++) {
                const FieldTable *t = cases[c].table;
                bool any_key = false;

                for (size_t i = 0; i < t->n_rows; i++) {
                        const FieldRow *row = &t->rows[i];
                        const FieldBinding *b = row->binding;

                        if (!row->key)
                                continue;
                        any_key = true;
                        if (!b->bound)
                                g_error("%s: row %s (key \"%s\") has no decoder in client/vfiod-fields.c",
                                        cases[c].name, row->id, row->key);
                        g_assert_cmpuint(member_size(row->key_signature), !=, 0);
                        g_assert_cmpuint(b->size, ==, member_size(row->key_signature));
                        g_assert_cmpuint(b->offset + b->size, <=, t->size);
                        g_assert_cmpint(b->has_count, ==, row->key_signature[0] == 'a');
                        g_assert_cmpint(!!b->nested, ==, strcmp(row->key_signature, "aa{sv}") == 0);
                        if (!b->nested)
                                g_assert_true(value_signature_supported(row->key_signature));
                        if (b->format != FIELD_FORMAT_DECIMAL)
                                g_assert_true(strchr("qu", row->key_signature[0]));
                        /* found by its key */
                        g_assert_true(field_table_find_key(t, row->key) == row);
                }
                /* a struct to decode into, exactly for the dictionaries */
                g_assert_cmpint(any_key, ==, t->size > 0);
        }
}

/* Every property is read by the value model and ranked (vfiod-watch.c's
 * order) at its row: the contract's order. */
static void test_properties(void) {
        for (size_t c = 0; c < N_ELEMENTS(cases); c++) {
                const FieldTable *t = cases[c].table;

                for (size_t i = 0; i < t->n_rows; i++) {
                        const FieldRow *row = &t->rows[i];

                        if (!row->property)
                                continue;
                        g_assert_true(t == &field_table_device || t == &field_table_group);
                        g_assert_true(value_signature_supported(row->property_signature));
                        g_assert_true(field_table_find_property(t, row->property) == row);
                }
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/fields/rows", test_rows);
        g_test_add_func("/fields/keys-decoded", test_keys_decoded);
        g_test_add_func("/fields/properties", test_properties);
        return g_test_run();
}
