/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hwdb.h: vendor and model names from the udev hardware database,
 * queried directly (the udev database in /run may not exist) and cached
 * by id: names of an id never change while we run.  Thread-safe. */
#pragma once

#include "device.h"

typedef struct Hwdb Hwdb;

/* Never fails: without a hwdb every name is "". */
Hwdb *hwdb_new (void);
void hwdb_free (Hwdb *hwdb);

/* Sets device->vendor and device->model; the strings live as long as @hwdb.
 * The database file is mapped on the first id not seen before. */
void hwdb_lookup (Hwdb *hwdb, Device *device);

/* Unmaps the database until a new id needs it: its pages (megabytes,
 * after thousands of lookups) would otherwise stay in the daemon. */
void hwdb_release (Hwdb *hwdb);
