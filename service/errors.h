/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* errors.h: the service's D-Bus errors and their errno mapping.
 *
 * The service's error convention, by layer:
 *  - I/O (sysfs.c, access.c, probe.c, vfio.c...) returns -errno and names
 *    nothing: its caller knows which device it asked about;
 *  - the pure planner (group.c) returns a typed PlanRefusal;
 *  - GLib's file and key-file helpers (records, grants, state) give a
 *    GError, which the method family words;
 *  - whatever reaches a caller is an sd_bus_error with a name of
 *    vfiod-names.h (typed: clients branch on the name, never the text),
 *    worded for any client (the bus API's methods and flags, never a
 *    command line: vfioctl adds its own hints).  The errors every method
 *    can give are worded here, once; an error only one method or module
 *    gives is worded where the fact is known (transaction.c names the
 *    write that failed, use.c the node). */
#pragma once

#include <systemd/sd-bus.h>

#include "group.h"

extern const sd_bus_error_map vfiod_error_map[];

/* A printable, bounded rendering of untrusted text for error messages:
 * control characters escaped, cut at 64 characters.  Newly allocated. */
char *errors_quote_untrusted (const char *text);

/* The errors of the bus layer, worded once, for any client: the methods
 * and flags of the bus API, never a command line.  Each sets @error and
 * returns its negative errno, as sd_bus_error_setf() does. */

/* @text is not a PCI address (quoted: it is untrusted). */
int errors_invalid_address (sd_bus_error *error, const char *text);
/* PCI device @device has no IOMMU group: the IOMMU is off. */
int errors_no_group (sd_bus_error *error, const char *device);
/* Reading PCI device @device from sysfs failed with @r (-errno):
 * -ENOENT/-ENODEV no such device, -EBADMSG not understood, else unreadable. */
int errors_from_sysfs (sd_bus_error *error, const char *device, int r);
/* The planner's refusal (group.h). */
int errors_from_refusal (sd_bus_error *error, const PlanRefusal *refusal);
/* The daemon is stopping: nothing was done to @what. */
int errors_shutting_down (sd_bus_error *error, const char *what);
