/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-private.h: internals of libvfiod shared between its files and its
 * unit tests.  Nothing here is exported from the shared library (the
 * project builds with -fvisibility=hidden and libvfiod.sym exports only
 * the public vfiod_* functions marked VFIOD_EXPORT).
 */
#pragma once

#include <systemd/sd-bus.h>

#include "vfiod.h"

#define VFIOD_EXPORT __attribute__((visibility("default")))

struct VfiodClient {
        sd_bus *bus;
        bool allow_interactive_authorization;
};

/* Sets a local error (name NULL) and returns -errnum (errnum > 0). */
int error_set_local(VfiodError *error, int errnum, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

/* Copies a bus error into *error and returns a negative errno for it:
 * a vfiod error name maps to a fixed errno (see error_name_to_errno()),
 * anything else to what sd-bus knows, falling back to `fallback` (< 0).
 * sd-bus's own failures ("System.Error.*" or no name) are local errors. */
int error_set_from_bus(VfiodError *error, const sd_bus_error *bus_error, int fallback);

/* errno (> 0) for a vfiod error name, 0 when it is not one of ours. */
int error_name_to_errno(const char *name);

/* Reads an aa{sv} of device dictionaries at the current position of m.
 * Unknown keys are skipped; a known key with the wrong type, or a device
 * without an address, is -EBADMSG. */
int reply_read_device_list(sd_bus_message *m, VfiodDeviceList **ret, VfiodError *error);

/* Reads an aa{sv} of plan dictionaries, same rules. */
int reply_read_plan(sd_bus_message *m, VfiodPlan **ret, VfiodError *error);
/* Reads an aa{sv} of persistent assignments (ListPersistentAssignments). */
int reply_read_assignment_list(sd_bus_message *m, VfiodAssignmentList **ret, VfiodError *error);
/* Reads the a{sv} of ExplainGroup. */
int reply_read_explanation(sd_bus_message *m, VfiodExplanation **ret, VfiodError *error);
/* Reads an aa{sv} of nodes (GrantAccess, RevokeAccess). */
int reply_read_node_list(sd_bus_message *m, VfiodNodeList **ret, VfiodError *error);

/* ---- values of the live model (vfiod-value.c) ---------------------- */

/* Frees what a value holds and makes it VFIOD_VALUE_NULL with text NULL. */
void value_clear(VfiodValue *v);

/* Same type and same content. */
bool value_equal(const VfiodValue *a, const VfiodValue *b);

/* Reads the variant at the current position of m, the value of
 * `property`, into *ret.  Returns 1 when read, 0 when its type is none
 * the contract uses (the variant is skipped, *ret left NULL), -ENOMEM, or
 * another negative errno when m does not hold a variant there. */
int value_read(sd_bus_message *m, const char *property, VfiodValue *ret);

/* The kind and short name of a device or group object path:
 * ".../device/0000_03_00_0" is a device "0000:03:00.0", ".../group/12" a
 * group "12".  -EINVAL for any other path, -ENOMEM. */
int object_path_parse(const char *path, VfiodObjectKind *ret_kind, char **ret_name);
