/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfio.h: the VFIO side of the host: loading vfio-pci, and who holds an
 * IOMMU group's /dev/vfio/N open (a running VM). */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Loads vfio-pci unless its PCI driver is registered already.  Returns
 * FALSE with @message set to what went wrong.  Blocks: worker only.
 * $VFIOD_MODPROBE replaces modprobe (tests). */
gboolean vfio_load (char **message);

/* Who holds IOMMU group @group, through /dev/vfio/@group or the VFIO
 * device cdev of a member (/dev/vfio/devices/vfioN), bound to an iommufd
 * or not: NULL when nobody, else a description ("pid 4242 (qemu-system-x86,
 * uid 1000)", "pid 4242 (qemu, uid 0) through /dev/vfio/devices/vfio0",
 * or, when only the kernel knows (the group's open fails EBUSY), "a
 * process vfiod cannot see (another PID namespace...)").  Open files are
 * matched by device number, not path: openers in other mount namespaces
 * count.  Never blocks on the group. */
char *vfio_group_holders (uint32_t group);
