/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* assignments.h: the policy of persistent assignments (DetachDevice with
 * PERSISTENT, ReattachDevice giving them up): which devices a call
 * records or forgets, and doing it.  No bus here: the change methods
 * (manager-change.c) word the errors; records.c keeps the files. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "group.h"
#include "model.h"
#include "records.h"

/* The devices a DetachDevice with @flags records: those it moves to
 * vfio-pci, and those already there that it was asked for (the target;
 * with GROUP, every endpoint of the group on vfio-pci).  Never a bridge,
 * nor a device left on pci-stub or elsewhere.  Device* of @plan; empty
 * without PERSISTENT. */
GPtrArray *assignments_to_record (const Plan *plan, uint64_t flags);

/* Whether a ReattachDevice with @flags removes a record of one of
 * @devices (Device*): the target's, or with GROUP any member's. */
gboolean assignments_to_forget (Records *records, GPtrArray *devices, const PciAddress *target,
                                uint64_t flags);

/* Whether a ReattachDevice only gives up persistent assignments: its
 * target is not on vfio-pci (booted with vfiod.persistent=0, or its
 * record did not match) and it has records to forget. */
gboolean assignments_reattach_only_forgets (Records *records, GPtrArray *devices,
                                            const PciAddress *target, uint64_t flags);

/* Whether the call has records to write or remove, beyond any move. */
gboolean assignments_pending (Records *records, const Plan *plan, gboolean reattach,
                              uint64_t flags);

/* ReattachDevice: removes the records it gives up (before anything
 * moves: a reattach that then fails leaves the devices detached until
 * the next boot, never the other way round).  *@changed set when one was
 * removed; FALSE with @error when a removal failed. */
gboolean assignments_forget (Records *records, const Plan *plan, uint64_t flags, gboolean *changed,
                             GError **error);

/* DetachDevice PERSISTENT that moves nothing (the devices are on vfio-pci
 * already): records @persist (Device* of @plan).  As above. */
gboolean assignments_write (Records *records, const Plan *plan, GPtrArray *persist,
                            gboolean *changed, GError **error);

/* At start: logs every record the boot helper could not carry out, and
 * why, against the devices as @model shows them. */
void assignments_warn (Records *records, Model *model);
