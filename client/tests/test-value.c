/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the live model's values (vfiod-value.c): each property
 * type read from a variant, typed and as text; object paths as short
 * names.  Messages are built locally, as in test-reply.c.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfiod-private.h"

typedef struct {
        sd_bus *bus;
        sd_bus_message *m;
        VfiodValue value;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        int fds[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
        g_assert_cmpint(sd_bus_new(&f->bus), ==, 0);
        g_assert_cmpint(sd_bus_set_fd(f->bus, fds[0], fds[0]), ==, 0);
        g_assert_cmpint(sd_bus_start(f->bus), >=, 0);
        close(fds[1]);
        g_assert_cmpint(sd_bus_message_new_signal(f->bus, &f->m, VFIOD_DBUS_PATH,
                                                  "org.freedesktop.DBus.Properties", "PropertiesChanged"),
                        ==, 0);
        f->value = (VfiodValue){.type = VFIOD_VALUE_NULL};
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        value_clear(&f->value);
        sd_bus_message_unref(f->m);
        sd_bus_flush_close_unref(f->bus);
}

/* Seals what was appended and reads it back as the value of property. */
static int fixture_read(Fixture *f, const char *property) {
        g_assert_cmpint(sd_bus_message_seal(f->m, 1, 0), ==, 0);
        g_assert_cmpint(sd_bus_message_rewind(f->m, true), >=, 0);
        return value_read(f->m, property, &f->value);
}

static void test_string(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "s", "vfio-pci"), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_DRIVER), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_STRING);
        g_assert_cmpstr(f->value.text, ==, "vfio-pci");
}

static void test_ids_hex(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "q", (uint16_t) 0x8086), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_VENDOR_ID), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_NUMBER);
        g_assert_cmpuint(f->value.number, ==, 0x8086);
        g_assert_cmpstr(f->value.text, ==, "0x8086");
}

static void test_class_hex(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "u", 0x020000u), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_CLASS), ==, 1);
        g_assert_cmpuint(f->value.number, ==, 0x020000);
        g_assert_cmpstr(f->value.text, ==, "0x020000");
}

static void test_number_decimal(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "u", 12u), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_NUMBER), ==, 1);
        g_assert_cmpuint(f->value.number, ==, 12);
        g_assert_cmpstr(f->value.text, ==, "12");
}

static void test_boolean(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "b", 1), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_VIABLE), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_BOOLEAN);
        g_assert_true(f->value.boolean);
        g_assert_cmpstr(f->value.text, ==, "true");
}

static void test_group_path(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "o", VFIOD_DBUS_GROUP_PATH_PREFIX "/12"), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_GROUP), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_NUMBER);
        g_assert_cmpuint(f->value.number, ==, 12);
        g_assert_cmpstr(f->value.text, ==, "12");
}

static void test_group_none(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "o", "/"), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_GROUP), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_NULL);
        g_assert_cmpstr(f->value.text, ==, "");
}

static void test_devices(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "ao", 2,
                                              VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_00_14_0",
                                              VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00_0"),
                        >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_DEVICES), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_LIST);
        g_assert_cmpuint(f->value.n_items, ==, 2);
        g_assert_cmpstr(f->value.items[0], ==, "0000:00:14.0");
        g_assert_cmpstr(f->value.items[1], ==, "0000:03:00.0");
        g_assert_cmpstr(f->value.text, ==, "0000:00:14.0 0000:03:00.0");
}

static void test_devices_empty(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "v", "ao", 0), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_DEVICES), ==, 1);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_LIST);
        g_assert_cmpuint(f->value.n_items, ==, 0);
        g_assert_cmpstr(f->value.text, ==, "");
}

/* A type the contract does not use is skipped, and what follows reads. */
static void test_unknown_type(Fixture *f, gconstpointer data) {
        const char *s;

        g_assert_cmpint(sd_bus_message_append(f->m, "vs", "a{sv}", 1, "x", "s", "y", "after"), >=, 0);
        g_assert_cmpint(fixture_read(f, "Future"), ==, 0);
        g_assert_cmpint(f->value.type, ==, VFIOD_VALUE_NULL);
        g_assert_cmpint(sd_bus_message_read_basic(f->m, 's', &s), ==, 1);
        g_assert_cmpstr(s, ==, "after");
}

static void test_not_a_variant(Fixture *f, gconstpointer data) {
        g_assert_cmpint(sd_bus_message_append(f->m, "s", "x"), >=, 0);
        g_assert_cmpint(fixture_read(f, VFIOD_PROP_DRIVER), <, 0);
}

static void test_equal(void) {
        char *a_items[] = {(char *) "0000:00:14.0", (char *) "0000:03:00.0"};
        char *b_items[] = {(char *) "0000:00:14.0", (char *) "0000:03:00.1"};
        VfiodValue a = {.type = VFIOD_VALUE_LIST, .text = (char *) "", .n_items = 2, .items = a_items};
        VfiodValue b = {.type = VFIOD_VALUE_LIST, .text = (char *) "", .n_items = 2, .items = b_items};
        VfiodValue t = {.type = VFIOD_VALUE_BOOLEAN, .boolean = true};
        VfiodValue n = {.type = VFIOD_VALUE_NUMBER, .number = 1};

        g_assert_true(value_equal(&a, &a));
        g_assert_false(value_equal(&a, &b));
        g_assert_false(value_equal(&t, &n));
        g_assert_true(value_equal(&t, &t));
}

static void test_path_parse(void) {
        static const struct {
                const char *path;
                int r;
                VfiodObjectKind kind;
                const char *name;
        } cases[] = {
                {VFIOD_DBUS_DEVICE_PATH_PREFIX "/0000_03_00_0", 0, VFIOD_OBJECT_DEVICE, "0000:03:00.0"},
                {VFIOD_DBUS_DEVICE_PATH_PREFIX "/10000_e1_00_7", 0, VFIOD_OBJECT_DEVICE, "10000:e1:00.7"},
                {VFIOD_DBUS_GROUP_PATH_PREFIX "/0", 0, VFIOD_OBJECT_GROUP, "0"},
                {VFIOD_DBUS_GROUP_PATH_PREFIX "/123", 0, VFIOD_OBJECT_GROUP, "123"},
                {VFIOD_DBUS_GROUP_PATH_PREFIX "/12/x", -EINVAL, 0, NULL},
                {VFIOD_DBUS_GROUP_PATH_PREFIX "/x", -EINVAL, 0, NULL},
                {VFIOD_DBUS_GROUP_PATH_PREFIX, -EINVAL, 0, NULL},
                {VFIOD_DBUS_GROUP_PATH_PREFIX "/", -EINVAL, 0, NULL},
                {VFIOD_DBUS_DEVICE_PATH_PREFIX "/abc", -EINVAL, 0, NULL},
                {VFIOD_DBUS_DEVICE_PATH_PREFIX "s/0000_03_00_0", -EINVAL, 0, NULL},
                {VFIOD_DBUS_PATH, -EINVAL, 0, NULL},
                {"/", -EINVAL, 0, NULL},
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VfiodObjectKind kind;
                char *name = NULL;
                int r = object_path_parse(cases[i].path, &kind, &name);

                g_assert_cmpint(r, ==, cases[i].r);
                if (r == 0) {
                        g_assert_cmpint(kind, ==, cases[i].kind);
                        g_assert_cmpstr(name, ==, cases[i].name);
                }
                free(name);
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/value/string", test_string);
        ADD("/value/ids-hex", test_ids_hex);
        ADD("/value/class-hex", test_class_hex);
        ADD("/value/number-decimal", test_number_decimal);
        ADD("/value/boolean", test_boolean);
        ADD("/value/group-path", test_group_path);
        ADD("/value/group-none", test_group_none);
        ADD("/value/devices", test_devices);
        ADD("/value/devices-empty", test_devices_empty);
        ADD("/value/unknown-type", test_unknown_type);
        ADD("/value/not-a-variant", test_not_a_variant);
#undef ADD
        g_test_add_func("/value/equal", test_equal);
        g_test_add_func("/value/path-parse", test_path_parse);
        return g_test_run();
}
