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
