/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of libvfiod's reply parsing (vfiod-reply.c) and error
 * mapping, on messages built locally: sd-bus needs a started bus object
 * to create messages, so the fixture starts one on a socketpair that never
 * carries a byte.
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
        VfiodError error;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        int fds[2];

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
        g_assert_cmpint(sd_bus_new(&f->bus), ==, 0);
        g_assert_cmpint(sd_bus_set_fd(f->bus, fds[0], fds[0]), ==, 0);
        g_assert_cmpint(sd_bus_start(f->bus), >=, 0);
        close(fds[1]);
        g_assert_cmpint(sd_bus_message_new_method_call(f->bus, &f->m, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH,
                                                       VFIOD_DBUS_MANAGER_INTERFACE,
                                                       VFIOD_METHOD_LIST_DEVICES),
                        ==, 0);
        f->error = (VfiodError) VFIOD_ERROR_INIT;
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        sd_bus_message_unref(f->m);
        sd_bus_flush_close_unref(f->bus);
        vfiod_error_clear(&f->error);
}

/* Seals the message and rewinds it for reading, as a received reply. */
static void fixture_seal(Fixture *f) {
        g_assert_cmpint(sd_bus_message_seal(f->m, 1, 0), ==, 0);
        g_assert_cmpint(sd_bus_message_rewind(f->m, true), >=, 0);
}

static void append_nic(sd_bus_message *m, bool with_group) {
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_ADDRESS, "s", "0000:03:00.0"), >=, 0);
        if (with_group)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_GROUP, "u", 14u), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}", VFIOD_KEY_VENDOR_ID, "q",
                                              (uint16_t) 0x8086, VFIOD_KEY_DEVICE_ID, "q", (uint16_t) 0x10d3,
                                              VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q", (uint16_t) 0x1028,
                                              VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q", (uint16_t) 0xa01f,
                                              VFIOD_KEY_CLASS, "u", 0x020000u),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}{sv}", VFIOD_KEY_VENDOR, "s",
                                              "Intel Corporation", VFIOD_KEY_NAME, "s",
                                              "82574L Gigabit Network Connection", VFIOD_KEY_DRIVER, "s",
                                              "e1000e", VFIOD_KEY_STATE, "s", VFIOD_STATE_HOST,
                                              VFIOD_KEY_BRIDGE, "b", 0, VFIOD_KEY_IN_USE, "s",
                                              "network interface enp3s0 is up with 192.168.1.20"),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
}

static void test_devices_full(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        append_nic(f->m, true);
        g_assert_cmpint(sd_bus_message_append(f->m, "a{sv}", 4, VFIOD_KEY_ADDRESS, "s", "0000:00:1c.0",
                                              VFIOD_KEY_STATE, "s", VFIOD_STATE_BRIDGE, VFIOD_KEY_BRIDGE,
                                              "b", 1, VFIOD_KEY_DRIVER, "s", VFIOD_DRIVER_PCIEPORT),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, 0);
        g_assert_null(f->error.message);
        g_assert_cmpuint(list->n_devices, ==, 2);

        const VfiodDevice *d = list->devices[0];
        g_assert_cmpstr(d->address, ==, "0000:03:00.0");
        g_assert_true(d->has_group);
        g_assert_cmpuint(d->group, ==, 14);
        g_assert_cmphex(d->vendor_id, ==, 0x8086);
        g_assert_cmphex(d->device_id, ==, 0x10d3);
        g_assert_cmphex(d->subsystem_vendor_id, ==, 0x1028);
        g_assert_cmphex(d->subsystem_device_id, ==, 0xa01f);
        g_assert_cmphex(d->class_code, ==, 0x020000);
        g_assert_cmpstr(d->vendor, ==, "Intel Corporation");
        g_assert_cmpstr(d->name, ==, "82574L Gigabit Network Connection");
        g_assert_cmpstr(d->driver, ==, "e1000e");
        g_assert_cmpstr(d->state, ==, VFIOD_STATE_HOST);
        g_assert_false(d->bridge);
        g_assert_cmpstr(d->in_use, ==, "network interface enp3s0 is up with 192.168.1.20");

        d = list->devices[1];
        g_assert_cmpstr(d->address, ==, "0000:00:1c.0");
        g_assert_true(d->bridge);
        g_assert_false(d->has_group);
        g_assert_cmpstr(d->driver, ==, VFIOD_DRIVER_PCIEPORT);
        /* Keys not sent read as "" and 0, never NULL. */
        g_assert_cmpstr(d->vendor, ==, "");
        g_assert_cmpstr(d->name, ==, "");
        g_assert_cmpstr(d->in_use, ==, "");
        g_assert_cmpstr(d->persistent, ==, "");
        g_assert_cmpuint(d->vendor_id, ==, 0);
        g_assert_false(d->has_owner_uid);

        vfiod_device_list_free(list);
}

static void test_devices_persistent(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        g_assert_cmpint(sd_bus_message_append(f->m, "aa{sv}", 1, 3, VFIOD_KEY_ADDRESS, "s", "0000:03:00.0",
                                              VFIOD_KEY_PERSISTENT, "s",
                                              VFIOD_PERSISTENT_MISMATCH
                                              "8086:10d3 recorded, 10ec:8139 found",
                                              VFIOD_KEY_OWNER_UID, "u", 1000),
                        >=, 0);
        fixture_seal(f);
        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, 0);
        g_assert_cmpstr(list->devices[0]->persistent, ==, "mismatch: 8086:10d3 recorded, 10ec:8139 found");
        /* who detached it, when the service says */
        g_assert_true(list->devices[0]->has_owner_uid);
        g_assert_cmpuint(list->devices[0]->owner_uid, ==, 1000);
        vfiod_device_list_free(list);
}

static void collect_key(const VfiodField *f, void *userdata) {
        g_string_append_printf(userdata, "%s%s", ((GString *) userdata)->len ? " " : "", f->key);
}

/* Every key the service sent, in the contract's order; those it leaves
 * out when empty stay out. */
static void test_devices_foreach(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;
        g_autoptr(GString) keys = g_string_new(NULL);

        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        append_nic(f->m, false);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);
        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, 0);
        vfiod_device_foreach_field(list->devices[0], collect_key, keys);
        g_assert_cmpstr(keys->str, ==,
                        "address vendor_id device_id subsystem_vendor_id "
                        "subsystem_device_id class vendor name driver state bridge in_use");
        vfiod_device_list_free(list);
}

static void append_assignment(sd_bus_message *m, const char *address, bool readable) {
        const char *members[] = {"0000:00:1c.0", address, NULL};

        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(
                                m, "{sv}{sv}{sv}", VFIOD_KEY_ADDRESS, "s", address, VFIOD_KEY_RECORD, "s",
                                "/etc/vfiod/persistent/x.conf", VFIOD_KEY_PERSISTENT, "s",
                                readable ? VFIOD_PERSISTENT_ACTIVE : VFIOD_PERSISTENT_MISMATCH "not valid"),
                        >=, 0);
        if (readable) {
                g_assert_cmpint(sd_bus_message_append(m, "{sv}{sv}{sv}{sv}{sv}", VFIOD_KEY_VENDOR_ID, "q",
                                                      (uint16_t) 0x8086, VFIOD_KEY_DEVICE_ID, "q",
                                                      (uint16_t) 0x10d3, VFIOD_KEY_SUBSYSTEM_VENDOR_ID, "q",
                                                      (uint16_t) 0x1028, VFIOD_KEY_SUBSYSTEM_DEVICE_ID, "q",
                                                      (uint16_t) 0xa01f, VFIOD_KEY_CLASS, "u", 0x020000u),
                                >=, 0);
                g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "s", VFIOD_KEY_MEMBERS), >=, 0);
                g_assert_cmpint(sd_bus_message_open_container(m, 'v', "as"), >=, 0);
                g_assert_cmpint(sd_bus_message_append_strv(m, (char **) members), >=, 0);
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_DRIVER, "s", "vfio-pci"), >=, 0);
        }
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
}

static void test_assignments(Fixture *f, gconstpointer data) {
        VfiodAssignmentList *list = NULL;

        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        append_assignment(f->m, "0000:03:00.0", true);
        append_assignment(f->m, "0000:04:00.0", false);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_assignment_list(f->m, &list, &f->error), ==, 0);
        g_assert_cmpuint(list->n_assignments, ==, 2);
        const VfiodAssignment *a = list->assignments[0];
        g_assert_cmpstr(a->address, ==, "0000:03:00.0");
        g_assert_cmpstr(a->record, ==, "/etc/vfiod/persistent/x.conf");
        g_assert_cmpstr(a->persistent, ==, VFIOD_PERSISTENT_ACTIVE);
        g_assert_true(a->has_ids);
        g_assert_cmphex(a->vendor_id, ==, 0x8086);
        g_assert_cmphex(a->subsystem_device_id, ==, 0xa01f);
        g_assert_cmphex(a->class_code, ==, 0x020000);
        g_assert_cmpuint(a->n_members, ==, 2);
        g_assert_cmpstr(a->members[0], ==, "0000:00:1c.0");
        g_assert_cmpstr(a->members[1], ==, "0000:03:00.0");
        g_assert_null(a->members[2]);
        g_assert_cmpstr(a->driver, ==, "vfio-pci");

        /* an unusable record: no ids, no members, and no NULL strings */
        a = list->assignments[1];
        g_assert_false(a->has_ids);
        g_assert_cmpuint(a->n_members, ==, 0);
        g_assert_cmpstr(a->driver, ==, "");
        g_assert_cmpstr(a->persistent, ==, "mismatch: not valid");
        vfiod_assignment_list_free(list);
}

static void test_assignments_wrong_type(Fixture *f, gconstpointer data) {
        VfiodAssignmentList *list = NULL;

        g_assert_cmpint(sd_bus_message_append(f->m, "aa{sv}", 1, 2, VFIOD_KEY_ADDRESS, "s", "0000:03:00.0",
                                              VFIOD_KEY_MEMBERS, "s", "0000:03:00.0"),
                        >=, 0);
        fixture_seal(f);
        g_assert_cmpint(reply_read_assignment_list(f->m, &list, &f->error), ==, -EBADMSG);
        g_assert_null(list);
        g_assert_nonnull(strstr(f->error.message, "'members'"));
}

static void test_devices_no_group(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        append_nic(f->m, false);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, 0);
        g_assert_cmpuint(list->n_devices, ==, 1);
        g_assert_false(list->devices[0]->has_group);
        g_assert_cmpuint(list->devices[0]->group, ==, 0);
        vfiod_device_list_free(list);
}

static void test_devices_empty(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        g_assert_cmpint(sd_bus_message_append(f->m, "aa{sv}", 0), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, 0);
        g_assert_cmpuint(list->n_devices, ==, 0);
        vfiod_device_list_free(list);
}

static void test_devices_unknown_keys(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        /* A newer service: keys we do not know, of any type, even nested,
         * before and after the ones we know. */
        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", "numa_node", "i", -1), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", VFIOD_KEY_ADDRESS, "s", "0000:04:00.0"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", "resets", "as", 2, "flr", "bus"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", "extra", "a{sv}", 1, "x", "t", (uint64_t) 7), >=,
                        0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", VFIOD_KEY_GROUP, "u", 3u), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", "variant", "v", "s", "deep"), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, 0);
        g_assert_cmpuint(list->n_devices, ==, 1);
        g_assert_cmpstr(list->devices[0]->address, ==, "0000:04:00.0");
        g_assert_true(list->devices[0]->has_group);
        g_assert_cmpuint(list->devices[0]->group, ==, 3);
        vfiod_device_list_free(list);
}

static void test_devices_wrong_type(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;
        const char *key = data;

        /* A known key with another type than the contract's: the group as
         * a string, an id as u, the bridge flag as a string, a string key
         * as a number. */
        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", VFIOD_KEY_ADDRESS, "s", "0000:04:00.0"), >=, 0);
        if (g_str_equal(key, VFIOD_KEY_GROUP) || g_str_equal(key, VFIOD_KEY_BRIDGE))
                g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", key, "s", "5"), >=, 0);
        else if (g_str_equal(key, VFIOD_KEY_VENDOR_ID))
                g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", key, "u", 0x8086u), >=, 0);
        else
                g_assert_cmpint(sd_bus_message_append(f->m, "{sv}", key, "u", 1u), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, -EBADMSG);
        g_assert_null(list);
        g_assert_null(f->error.name);
        g_assert_nonnull(strstr(f->error.message, key));
}

static void test_devices_missing_address(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        append_nic(f->m, true);
        g_assert_cmpint(sd_bus_message_append(f->m, "a{sv}", 1, VFIOD_KEY_GROUP, "u", 1u), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, -EBADMSG);
        g_assert_null(list);
        g_assert_nonnull(strstr(f->error.message, "device 1 has no 'address'"));
}

static void test_devices_wrong_signature(Fixture *f, gconstpointer data) {
        VfiodDeviceList *list = NULL;

        g_assert_cmpint(sd_bus_message_append(f->m, "as", 1, "0000:03:00.0"), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_device_list(f->m, &list, &f->error), ==, -EBADMSG);
        g_assert_null(list);
        g_assert_nonnull(f->error.message);
}

static void test_plan_full(Fixture *f, gconstpointer data) {
        VfiodPlan *plan = NULL;

        g_assert_cmpint(sd_bus_message_open_container(f->m, 'a', "a{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "a{sv}", 5, VFIOD_KEY_ADDRESS, "s", "0000:00:1c.0",
                                              VFIOD_KEY_ACTION, "s", VFIOD_ACTION_KEEP, VFIOD_KEY_FROM, "s",
                                              VFIOD_DRIVER_PCIEPORT, VFIOD_KEY_TO, "s",
                                              VFIOD_DRIVER_PCIEPORT, VFIOD_KEY_REASON, "s",
                                              "bridge stays on pcieport"),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_append(f->m, "a{sv}", 5, VFIOD_KEY_ADDRESS, "s", "0000:03:00.0",
                                              "step", "u", 3u, /* unknown: skipped */
                                              VFIOD_KEY_ACTION, "s", VFIOD_ACTION_DETACH, VFIOD_KEY_FROM,
                                              "s", "", VFIOD_KEY_TO, "s", VFIOD_DRIVER_VFIO_PCI),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(f->m), >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_plan(f->m, &plan, &f->error), ==, 0);
        g_assert_cmpuint(plan->n_entries, ==, 2);
        g_assert_cmpstr(plan->entries[0]->address, ==, "0000:00:1c.0");
        g_assert_cmpstr(plan->entries[0]->action, ==, VFIOD_ACTION_KEEP);
        g_assert_cmpstr(plan->entries[0]->from, ==, VFIOD_DRIVER_PCIEPORT);
        g_assert_cmpstr(plan->entries[0]->to, ==, VFIOD_DRIVER_PCIEPORT);
        g_assert_cmpstr(plan->entries[0]->reason, ==, "bridge stays on pcieport");
        g_assert_cmpstr(plan->entries[1]->action, ==, VFIOD_ACTION_DETACH);
        g_assert_cmpstr(plan->entries[1]->from, ==, "");
        g_assert_cmpstr(plan->entries[1]->to, ==, VFIOD_DRIVER_VFIO_PCI);
        g_assert_cmpstr(plan->entries[1]->reason, ==, "");
        vfiod_plan_free(plan);
}

static void test_plan_wrong_type(Fixture *f, gconstpointer data) {
        VfiodPlan *plan = NULL;

        g_assert_cmpint(sd_bus_message_append(f->m, "aa{sv}", 1, 2, VFIOD_KEY_ADDRESS, "s", "0000:03:00.0",
                                              VFIOD_KEY_ACTION, "u", 1u),
                        >=, 0);
        fixture_seal(f);

        g_assert_cmpint(reply_read_plan(f->m, &plan, &f->error), ==, -EBADMSG);
        g_assert_null(plan);
        g_assert_nonnull(strstr(f->error.message, "'action'"));
}

static void test_error_names(void) {
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_INVALID_ADDRESS), ==, EINVAL);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_NO_SUCH_DEVICE), ==, ENODEV);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_NO_IOMMU_GROUP), ==, ENXIO);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_FAILED), ==, EIO);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_NOT_ASSIGNABLE), ==, EOPNOTSUPP);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_GROUP_NOT_VIABLE), ==, EBUSY);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_DEVICE_IN_USE), ==, EBUSY);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_NOT_DETACHED), ==, EALREADY);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_GROUP_BUSY), ==, EBUSY);
        g_assert_cmpint(error_name_to_errno(VFIOD_ERROR_VFIO_UNAVAILABLE), ==, ENOPKG);
        g_assert_cmpint(error_name_to_errno("org.example.Other"), ==, 0);
        g_assert_cmpint(error_name_to_errno(NULL), ==, 0);
}

static void test_error_from_bus(void) {
        VfiodError error = VFIOD_ERROR_INIT;
        sd_bus_error bus_error = SD_BUS_ERROR_NULL;

        sd_bus_error_set(&bus_error, VFIOD_ERROR_GROUP_NOT_VIABLE, "0000:03:00.0 shares ...");
        g_assert_cmpint(error_set_from_bus(&error, &bus_error, -EIO), ==, -EBUSY);
        g_assert_cmpstr(error.name, ==, VFIOD_ERROR_GROUP_NOT_VIABLE);
        g_assert_cmpstr(error.message, ==, "0000:03:00.0 shares ...");
        g_assert_true(vfiod_error_has_name(&error, VFIOD_ERROR_GROUP_NOT_VIABLE));
        g_assert_false(vfiod_error_has_name(&error, VFIOD_ERROR_FAILED));
        sd_bus_error_free(&bus_error);

        /* Standard names: sd-bus's errno; the previous error is replaced. */
        sd_bus_error_set(&bus_error, VFIOD_DBUS_ERROR_ACCESS_DENIED, "Not authorized");
        g_assert_cmpint(error_set_from_bus(&error, &bus_error, -EIO), ==, -EACCES);
        g_assert_cmpstr(error.name, ==, VFIOD_DBUS_ERROR_ACCESS_DENIED);
        g_assert_cmpstr(error.message, ==, "Not authorized");
        sd_bus_error_free(&bus_error);

        /* No name (a transport failure): the fallback errno, no name. */
        g_assert_cmpint(error_set_from_bus(&error, &bus_error, -ECONNRESET), ==, -ECONNRESET);
        g_assert_null(error.name);
        g_assert_nonnull(strstr(error.message, "Cannot talk to the vfio service"));

        /* sd-bus's own failures are local too, not the service's answer. */
        sd_bus_error_set_errno(&bus_error, ENOTCONN);
        g_assert_cmpstr(bus_error.name, ==, "System.Error.ENOTCONN");
        g_assert_cmpint(error_set_from_bus(&error, &bus_error, -ENOTCONN), ==, -ENOTCONN);
        g_assert_null(error.name);
        g_assert_nonnull(strstr(error.message, "Cannot talk to the vfio service"));
        sd_bus_error_free(&bus_error);

        vfiod_error_clear(&error);
        g_assert_null(error.name);
        g_assert_null(error.message);
        vfiod_error_clear(&error);
        vfiod_error_clear(NULL);
        g_assert_false(vfiod_error_has_name(NULL, VFIOD_ERROR_FAILED));
}

static void test_error_local(void) {
        VfiodError error = VFIOD_ERROR_INIT;

        g_assert_cmpint(error_set_local(&error, EBADMSG, "bad %s %d", "x", 1), ==, -EBADMSG);
        g_assert_null(error.name);
        g_assert_cmpstr(error.message, ==, "bad x 1");
        g_assert_cmpint(error_set_local(NULL, ENOMEM, "ignored"), ==, -ENOMEM);
        vfiod_error_clear(&error);
}

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
/* ExplainGroup's a{sv}: the plain keys, the slots (aa{sv}), an unknown
 * key skipped; reset methods read; a slot with a key of the wrong type,
 * or no "cause", is -EBADMSG and nothing is returned. */
static void append_explanation(sd_bus_message *m, bool bad_slot, bool with_cause) {
        const char *occupants[] = {"0000:03:00.0", NULL};
        const char *resets[] = {"flr", "bus", NULL};

        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "{sv}{sv}{sv}{sv}", VFIOD_KEY_GROUP, "u", 9u,
                                              VFIOD_KEY_CAUSE_DEVICE, "s", "0000:03:00.0",
                                              VFIOD_KEY_EXPLANATION, "s", "why", "future", "s", "ignored"),
                        >=, 0);
        if (with_cause)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_CAUSE, "s", "pci-bridge"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", VFIOD_KEY_RESET_METHODS), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'v', "as"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) resets), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", VFIOD_KEY_ISOLATING_SLOTS), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'v', "aa{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "a{sv}"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        if (bad_slot)
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_SLOT, "u", 4u), >=, 0);
        else
                g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_SLOT, "s", "4"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "{sv}", VFIOD_KEY_PORT, "s", "0000:00:1c.4"), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'e', "sv"), >=, 0);
        g_assert_cmpint(sd_bus_message_append(m, "s", VFIOD_KEY_OCCUPANT), >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'v', "as"), >=, 0);
        g_assert_cmpint(sd_bus_message_append_strv(m, (char **) occupants), >=, 0);
        for (int i = 0; i < 6; i++)
                g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
}

static void test_explanation(Fixture *f, gconstpointer data) {
        VfiodExplanation *e = NULL;
        g_autoptr(GString) keys = g_string_new(NULL);

        append_explanation(f->m, false, true);
        fixture_seal(f);
        g_assert_cmpint(reply_read_explanation(f->m, &e, &f->error), ==, 0);
        g_assert_cmpuint(e->group, ==, 9);
        g_assert_cmpstr(e->cause, ==, "pci-bridge");
        g_assert_cmpstr(e->advice, ==, ""); /* absent: "" */
        g_assert_cmpuint(e->n_reset_methods, ==, 2);
        g_assert_cmpstr(e->reset_methods[1], ==, "bus");
        g_assert_cmpuint(e->n_isolating_slots, ==, 1);
        g_assert_cmpstr(e->isolating_slots[0]->slot, ==, "4");
        g_assert_cmpstr(e->isolating_slots[0]->port, ==, "0000:00:1c.4");
        g_assert_cmpstr(e->isolating_slots[0]->occupants[0], ==, "0000:03:00.0");
        vfiod_explanation_foreach_field(e, collect_key, keys);
        g_assert_cmpstr(keys->str, ==,
                        "group cause cause_device explanation advice reset_methods reset_warning");
        vfiod_explanation_free(e);
}

static void test_explanation_bad(Fixture *f, gconstpointer data) {
        VfiodExplanation *e = NULL;
        bool bad_slot = GPOINTER_TO_INT(data);

        append_explanation(f->m, bad_slot, bad_slot); /* the bad slot has a cause */
        fixture_seal(f);
        g_assert_cmpint(reply_read_explanation(f->m, &e, &f->error), ==, -EBADMSG);
        g_assert_null(e);
        g_assert_nonnull(strstr(f->error.message, bad_slot ? "'slot'" : "'cause'"));
}

#define ADD_DATA(path, data, fn) g_test_add(path, Fixture, data, fixture_setup, fn, fixture_teardown)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        ADD("/reply/devices/full", test_devices_full);
        ADD("/reply/devices/no-group", test_devices_no_group);
        ADD("/reply/devices/empty", test_devices_empty);
        ADD("/reply/devices/unknown-keys", test_devices_unknown_keys);
        ADD_DATA("/reply/devices/wrong-type-group", VFIOD_KEY_GROUP, test_devices_wrong_type);
        ADD_DATA("/reply/devices/wrong-type-vendor-id", VFIOD_KEY_VENDOR_ID, test_devices_wrong_type);
        ADD_DATA("/reply/devices/wrong-type-bridge", VFIOD_KEY_BRIDGE, test_devices_wrong_type);
        ADD_DATA("/reply/devices/wrong-type-state", VFIOD_KEY_STATE, test_devices_wrong_type);
        ADD("/reply/devices/missing-address", test_devices_missing_address);
        ADD("/reply/devices/wrong-signature", test_devices_wrong_signature);
        ADD("/reply/devices/persistent", test_devices_persistent);
        ADD("/reply/devices/foreach", test_devices_foreach);
        ADD("/reply/assignments/full", test_assignments);
        ADD("/reply/assignments/wrong-type", test_assignments_wrong_type);
        ADD("/reply/plan/full", test_plan_full);
        ADD("/reply/explanation/full", test_explanation);
        ADD_DATA("/reply/explanation/bad-slot", GINT_TO_POINTER(1), test_explanation_bad);
        ADD_DATA("/reply/explanation/no-cause", GINT_TO_POINTER(0), test_explanation_bad);
        ADD("/reply/plan/wrong-type", test_plan_wrong_type);
        g_test_add_func("/reply/error/names", test_error_names);
        g_test_add_func("/reply/error/from-bus", test_error_from_bus);
        g_test_add_func("/reply/error/local", test_error_local);
        return g_test_run();
}
