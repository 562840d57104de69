/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bootid.h: which boot of the machine this is, from the kernel's
 * /proc/sys/kernel/random/boot_id (a random UUID chosen at each boot).
 * Numbers the kernel hands out at enumeration and bind time (IOMMU
 * groups, VFIO device cdevs) mean something only within one boot: a
 * record that names one carries the boot id it was written in. */
#pragma once

#include <glib.h>

/* The current boot id, lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
 * read once and cached; NULL when it cannot be read or is not a UUID
 * (logged once).  Thread-safe. */
const char *boot_id_current (void);

/* Whether @s is a boot id as the kernel spells it: 36 characters, lower-
 * case hex digits in groups of 8-4-4-4-12 separated by '-'. */
gboolean boot_id_valid (const char *s);
