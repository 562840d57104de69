/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* group.h: planning detach and reattach over an IOMMU group.  Pure: works
 * on devices already read (and described: in_use set), decides what moves
 * where and why, or refuses with an error naming the devices. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "device.h"

typedef enum {
  PLAN_KEEP,
  PLAN_DETACH,
  PLAN_REATTACH,
} PlanAction;

typedef struct {
  Device *device;   /* borrowed from the plan's devices */
  PlanAction action;
  char *from;       /* driver before, "" when unbound */
  char *to;         /* driver after, "" when unbound or unknown */
  char *reason;     /* why kept, or a note on the move; "" otherwise */
} PlanStep;

typedef struct {
  uint32_t group;
  PciAddress target;
  GPtrArray *devices; /* Device*, the group, owned */
  GPtrArray *steps;   /* PlanStep*, one per device, by address */
} Plan;

void plan_free (Plan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plan, plan_free)

const char *plan_action_to_string (PlanAction action);

/* Number of devices that move. */
guint plan_count_moves (const Plan *plan);
/* Whether a device other than the target moves. */
gboolean plan_moves_others (const Plan *plan);
/* Space-separated addresses of the devices that move (polkit's $(devices)). */
char *plan_moved_addresses (const Plan *plan);
/* Whether any moving device is in use by the host, or may be: a doubt
 * (in_use_doubt, vfiod could not read what would tell) counts as in use,
 * so it needs FORCE and the detach-in-use action. */
gboolean plan_moves_in_use (const Plan *plan);

/* Whether the kernel would let VFIO use a group of @devices (Device*):
 * every one unbound or on a driver that leaves DMA to VFIO.  An empty
 * group is not. */
gboolean group_viable (GPtrArray *devices);

/* Plans DetachDevice(@target, @flags) over @devices (the whole group,
 * sorted, described; always consumed: the plan owns it).  Returns 0, or <0 with
 * @error set (NoSuchDevice, NotAssignable, GroupNotViable, DeviceInUse). */
int group_plan_detach (GPtrArray *devices, uint32_t group, const PciAddress *target,
                       uint64_t flags, Plan **out, sd_bus_error *error);

/* Plans ReattachDevice(@target, @flags).  @originals maps an address to
 * the host driver it had before it was detached ("" for unbound), as
 * recorded; devices missing there go back to whatever the kernel picks.
 * @devices is consumed, as for group_plan_detach().
 * Errors: NoSuchDevice, NotDetached. */
int group_plan_reattach (GPtrArray *devices, uint32_t group, const PciAddress *target,
                         uint64_t flags, GHashTable *originals, Plan **out,
                         sd_bus_error *error);

/* Whether @later moves exactly devices that @earlier moved, to the same
 * drivers: what authorization was granted for still covers it. */
gboolean plan_covered_by (const Plan *later, const Plan *earlier);

/* A plan that moves nothing: every device stays where it is, for @why
 * (a ReattachDevice that only forgets a persistent assignment).
 * @devices is consumed; NULL when @target is not among them. */
Plan *group_plan_keep (GPtrArray *devices, uint32_t group, const PciAddress *target,
                       const char *why);
