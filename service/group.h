/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* group.h: planning detach and reattach over an IOMMU group.  Pure: works
 * on devices already read (and described: in_use set), decides what moves
 * where and why, or refuses: what, and which devices.  The wording for a
 * caller is the service's (errors.c), for any client. */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "device.h"

typedef enum {
  PLAN_KEEP,
  PLAN_DETACH,
  PLAN_REATTACH,
} PlanAction;

typedef struct {
  Device *device; /* borrowed from the plan's devices */
  PlanAction action;
  char *from;   /* driver before, "" when unbound */
  char *to;     /* driver after, "" when unbound or unknown */
  char *reason; /* why kept, or a note on the move; "" otherwise */
} PlanStep;

typedef struct {
  uint32_t group;
  PciAddress target;
  GPtrArray *devices; /* Device*, the group, owned */
  GPtrArray *steps;   /* PlanStep*, one per device, by address */
} Plan;

void plan_free (Plan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Plan, plan_free)

typedef enum {
  REFUSAL_NONE,
  REFUSAL_NO_SUCH_DEVICE, /* the target is no longer in the group */
  REFUSAL_NOT_ASSIGNABLE, /* the target is a bridge */
  REFUSAL_NOT_VIABLE,     /* alone, while others keep host drivers */
  REFUSAL_IN_USE,         /* would move devices the host uses (or may) */
  REFUSAL_NOT_DETACHED,   /* reattach of a device not on vfio-pci */
} RefusalKind;

/* Why the planner said no. */
typedef struct {
  RefusalKind kind;
  uint32_t group;
  char target[ADDRESS_STRLEN];
  char *target_text;   /* the target: "0000:03:00.0 (vendor model, on e1000e)" */
  GPtrArray *devices;  /* char*: NOT_VIABLE, the devices still on host drivers as
                        * target_text names one; IN_USE, "ADDR is in use by the
                        * host: REASON" ("may be" for a doubt) */
  gboolean doubt;      /* IN_USE: vfiod could not tell for some */
  gboolean group_mode; /* the call had GROUP */
} PlanRefusal;

void plan_refusal_clear (PlanRefusal *refusal);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (PlanRefusal, plan_refusal_clear)

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
 * sorted, described; always consumed: the plan owns it).  Returns 0, or -1
 * with @refusal set (NO_SUCH_DEVICE, NOT_ASSIGNABLE, NOT_VIABLE, IN_USE). */
int group_plan_detach (GPtrArray *devices, uint32_t group, const PciAddress *target, uint64_t flags,
                       Plan **out, PlanRefusal *refusal);

/* Plans ReattachDevice(@target, @flags).  @originals maps an address to
 * the host driver it had before it was detached ("" for unbound), as
 * recorded; devices missing there go back to whatever the kernel picks.
 * @devices is consumed, as for group_plan_detach().
 * Refusals: NO_SUCH_DEVICE, NOT_DETACHED. */
int group_plan_reattach (GPtrArray *devices, uint32_t group, const PciAddress *target,
                         uint64_t flags, GHashTable *originals, Plan **out, PlanRefusal *refusal);

/* Whether @later moves exactly the devices @earlier moved, in the same
 * group, and none the host uses (or may) unless @earlier did too: what
 * authorization was granted for still covers it.  Drivers are not
 * compared: both plans come from the same call, so the targets are
 * vfio-pci, or the recorded drivers, alike. */
gboolean plan_covered_by (const Plan *later, const Plan *earlier);

/* A plan that moves nothing: every device stays where it is, for @why
 * (a ReattachDevice that only forgets a persistent assignment).
 * @devices is consumed; NULL when @target is not among them. */
Plan *group_plan_keep (GPtrArray *devices, uint32_t group, const PciAddress *target,
                       const char *why);
