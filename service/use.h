/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* use.h: the rules and steps of using a detached group without root
 * (OpenGroup, OpenDevice, GrantAccess, RevokeAccess): what must hold
 * before vfiod hands anything out, and each step with an error that
 * names the device and says what to do.  The manager authorizes (polkit)
 * and runs these on a worker, under the group's lock. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <sys/types.h>

#include "grants.h"

/* @target (a normalised address) is on vfio-pci, and every member of its
 * group (@members: Device*, the whole group as just read) leaves DMA to
 * VFIO.  0, or <0 with @error set: NotDetached, GroupNotViable naming the
 * members the host still has. */
int use_check (GPtrArray *members, const char *target, uint32_t group, sd_bus_error *error);

/* The group's owner: whoever detached every member of @members (Device*)
 * that is on vfio-pci, by @owners (state_owners(): address → uid, of this
 * boot).  TRUE and *@owner when there is one; FALSE when a member on
 * vfio-pci has no owner vfiod knows of (bound by hand, at boot, by an
 * earlier boot or an older vfiod), when two members have different
 * owners, or when none is on vfio-pci: then the group is nobody's, and
 * using it is "using another's" (fail closed). */
gboolean use_group_owner (GPtrArray *members, GHashTable *owners, uid_t *owner);

/* Opens the group's node for the caller, refusing a group the kernel
 * does not call viable (GroupNotViable) and one another process has open
 * (GroupBusy, naming it).  0 and *@fd, or <0 with @error set. */
int use_open_group (uint32_t group, const char *target, int *fd, sd_bus_error *error);

/* Opens @target's VFIO device cdev: NotSupported when the kernel has
 * none.  0 and *@fd, or <0 with @error set. */
int use_open_device (const char *target, int *fd, sd_bus_error *error);

/* The nodes of @group a grant covers: its /dev/vfio/N and the device
 * cdevs of @members that have one. */
GPtrArray *use_group_nodes (GPtrArray *members, uint32_t group);

/* Grants @uid rw on each of @group's nodes (recorded first); on any
 * failure takes back what it did.  0 and *@granted (Grant*), or <0 with
 * @error set. */
int use_grant (Grants *grants, GPtrArray *members, uint32_t group, uid_t uid, const char *target,
               GPtrArray **granted, sd_bus_error *error);

/* The nodes @group has now (use_group_nodes() of its members as sysfs
 * lists them; a group that is gone has only its number's node): 0 and
 * *@nodes (char*), and *@members (Device*) if not NULL; or -errno when a
 * member cannot be read.  Reads sysfs. */
int use_current_nodes (uint32_t group, GPtrArray **members, GPtrArray **nodes);
gboolean use_nodes_have (GPtrArray *nodes, const char *path);

/* Forgets @g without touching any ACL (its node is not the one it was
 * granted on), logging @why. */
void use_forget_stale (Grants *grants, const Grant *g, const char *why);

/* Takes back the grants of @group: @uid's, or everybody's when @uid is
 * (uid_t) -1.  The nodes are those the group has now
 * (use_current_nodes()): a record naming another node is forgotten, its
 * node never touched (after a rebind or hotplug that number can be
 * another device's).  0 and *@revoked (Grant*, may be NULL), or <0 with
 * @error set naming the node that kept its entry (its record is kept too,
 * so a later revoke or restart tries again). */
int use_revoke (Grants *grants, uint32_t group, uid_t uid, const char *what, GPtrArray **revoked,
                sd_bus_error *error);
