/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* transaction.h: carrying out a plan on sysfs, all or nothing.  Before
 * its first write to a device, the device's original driver and
 * driver_override are recorded (state.h); if any step fails, every device
 * already touched is put back as it was and the error names the device,
 * the step and the errno.  Blocks: run on a worker thread, with the
 * group's lock held. */
#pragma once

#include <systemd/sd-bus.h>

#include "group.h"
#include "state.h"

/* Runs @plan (its steps' "to" then say what each device ended up on).
 * Returns 0, or <0 with @error set. */
int transaction_run (State *state, Plan *plan, sd_bus_error *error);

/* At start-up: rolls back every device a transaction left pending (the
 * daemon was killed mid-way), logging each. */
void transaction_recover (State *state);
