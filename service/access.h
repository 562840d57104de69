/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* access.h: handing a detached IOMMU group to the caller's VM without
 * root: opening its nodes for fd passing, POSIX ACL entries on them for
 * VMMs that open paths themselves, and raising a process's locked-memory
 * limit (VFIO charges every DMA mapping of guest RAM to it).
 *
 * I/O only; the manager decides who may (polkit) and what (a viable
 * group on vfio-pci).  Calls block briefly (open, setxattr, prlimit):
 * workers only. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- nodes ------------------------------------------------------------- */

/* The group's node, VFIOD_DEV_VFIO_DIR "/<group>".  Newly allocated. */
char *access_group_node (uint32_t group);

/* The VFIO device cdev of PCI device @device (VFIOD_DEV_VFIO_DEVICES_DIR
 * "/vfioN", kernel >= 6.6 with CONFIG_VFIO_DEVICE_CDEV, while on
 * vfio-pci), from its vfio-dev/ directory in sysfs: NULL when it has none. */
char *access_device_cdev (const char *device);

/* Opens the group's node O_RDWR | O_CLOEXEC for the caller.  0 and *@fd,
 * or -errno: -EBUSY when another process has the group open (the kernel
 * allows one), -ENOENT when there is no node.  *@viable: the kernel's
 * verdict (VFIO_GROUP_GET_STATUS); a node that is not a character device
 * (a test's stand-in) has none to ask and says TRUE, leaving the verdict
 * to vfiod's own check of the members, which the caller always makes. */
int access_open_group (uint32_t group, int *fd, bool *viable);

/* Opens @path (a device cdev) O_RDWR | O_CLOEXEC: 0 and *@fd, or -errno. */
int access_open_node (const char *path, int *fd);

/* ---- ACL entries ------------------------------------------------------- */

/* Adds (or keeps) user:@uid:rw- on @path, recomputing the mask; owner,
 * group and mode bits are never touched.  0 or -errno. */
int access_acl_grant (const char *path, uid_t uid);
/* Removes user:@uid from @path's ACL: 0 (also when there was none, or
 * no such path), or -errno. */
int access_acl_revoke (const char *path, uid_t uid);
/* Whether @path's ACL has an entry for @uid. */
bool access_acl_has (const char *path, uid_t uid);

/* ---- locked memory --------------------------------------------------- */

/* The process @pidfd refers to: its pid and its real, effective, saved
 * and file-system uids (from /proc).  -EBADF: not a pidfd; -ESRCH: the
 * process has exited. */
int access_pidfd_process (int pidfd, pid_t *pid, uid_t uids[4]);

/* Raises RLIMIT_MEMLOCK (soft and hard) of the process @pidfd refers to
 * (pid @pid, from access_pidfd_process()) to @bytes; a limit already at
 * or above it is left alone (never lowered).  *@before and *@after: the
 * soft limit.  -ESRCH when the process exited before or after the
 * change (then it may have reached another process that took the pid:
 * see the comment in access.c). */
int access_raise_memlock (int pidfd, pid_t pid, uint64_t bytes, uint64_t *before, uint64_t *after);

/* "256.0 MiB", "8.0 GiB": for polkit messages and errors. */
char *access_format_size (uint64_t bytes);
