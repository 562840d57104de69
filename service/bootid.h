/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bootid.h: which boot this is.  Every record vfiod keeps in its state
 * directory names the boot it was written in: group numbers, cdev numbers
 * and drivers are handed out anew at every boot, so a record of another
 * boot is never acted on in sysfs or on a device node. */
#pragma once

#include <glib.h>

/* The kernel's boot id (/proc/sys/kernel/random/boot_id, a lower-case
 * UUID), read once; NULL if it cannot be read or is not a UUID: then every
 * record counts as another boot's (fail closed). */
const char *boot_id_current (void);

/* Whether @s is a boot id as the kernel writes it (36 characters, lower
 * case hex and dashes at 8, 13, 18, 23). */
gboolean boot_id_valid (const char *s);

/* Whether a record written in boot @recorded (NULL: an earlier format
 * that did not say) was written in boot @current (NULL: unknown). */
gboolean boot_id_same (const char *recorded, const char *current);
