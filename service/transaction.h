/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* transaction.h: carrying out a plan on sysfs, all or nothing.  Before
 * the first write, every moving device's original driver and
 * driver_override are recorded with the transaction, pending, in one
 * atomic write (state.h); if any step fails, every device already touched
 * is put back as it was, newest first, and the error names the device,
 * the step and the errno; the end is recorded in one write too.  Blocks:
 * run on a worker thread, with the group's lock held. */
#pragma once

#include <systemd/sd-bus.h>

#include "group.h"
#include "records.h"
#include "state.h"

/* What a running transaction is doing, shared between its worker and the
 * main loop that watches it.  Thread-safe. */
typedef struct TransactionProgress TransactionProgress;

TransactionProgress *transaction_progress_new (void);
void transaction_progress_free (TransactionProgress *progress);
/* The sysfs write under way, in words ("unbinding 0000:03:00.0 from
 * amdgpu"), and since when (g_get_monotonic_time(), @since nullable);
 * NULL when no write is under way. */
char *transaction_progress_current (TransactionProgress *progress, gint64 *since);
/* The caller was told the operation failed: once the write under way
 * returns, everything done so far is rolled back (even if every step
 * succeeded), and nothing more is started. */
void transaction_progress_abandon (TransactionProgress *progress);
gboolean transaction_progress_abandoned (TransactionProgress *progress);

/* Runs @plan (its steps' "to" then say what each device ended up on).
 * @persist (Device* of @plan, nullable): once every device moved, record
 * these as persistent assignments (records.h), as the transaction's last
 * step: a failure to record rolls everything back, and the rollback of a
 * detach that records (here or at start-up) removes the records of its
 * moved devices.  @progress (nullable) is kept up to date and obeyed.
 * Returns 0, or <0 with @error set. */
int transaction_run (State *state, Records *records, Plan *plan, GPtrArray *persist,
                     TransactionProgress *progress, sd_bus_error *error);

/* At start-up: rolls back every transaction left pending (the daemon was
 * killed mid-way, or stopped while a write was stuck), each as a whole,
 * newest step first, logging each device. */
void transaction_recover (State *state, Records *records);
