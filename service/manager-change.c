/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* DetachDevice and ReattachDevice: a plan read and answered or
 * authorized, then carried out as one transaction under the group's lock
 * (transaction.c), and the persistent assignments kept with it
 * (assignments.c). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "assignments.h"
#include "errors.h"
#include "group.h"
#include "manager-private.h"
#include "names.h"
#include "sysfs.h"
#include "use.h"
#include "vfio.h"

typedef struct {
  gboolean reattach;
  uint64_t flags;
  Plan *plan;               /* as planned (and authorized), then as done */
  gboolean records_changed; /* the worker wrote or removed persistent assignments */
  gboolean has_owner;       /* reattach: the group has an owner ... */
  uid_t owner;              /* ... who detached it */
} Change;

static void
change_free (gpointer data)
{
  Change *c = data;

  plan_free (c->plan);
  g_free (c);
}

static int
change_parse (Call *call, sd_bus_message *m, gboolean reattach, sd_bus_error *error)
{
  uint64_t allowed = reattach ? VFIOD_REATTACH_FLAGS_ALL : VFIOD_DETACH_FLAGS_ALL;
  Change *c = g_new0 (Change, 1);
  const char *text;
  int r;

  call->data = c;
  c->reattach = reattach;
  r = sd_bus_message_read (m, "st", &text, &c->flags);
  if (r < 0)
    return r;
  if (c->flags & ~allowed)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "Unknown flags 0x%" PRIx64 ": %s takes GROUP (0x1), DRY_RUN "
                              "(0x2)%s",
                              c->flags & ~allowed,
                              reattach ? VFIOD_METHOD_REATTACH_DEVICE : VFIOD_METHOD_DETACH_DEVICE,
                              reattach ? "" : ", FORCE (0x4) and PERSISTENT (0x8)");
  r = engine_set_target (call, text, error);
  /* a detach records who made it (the devices' owner) */
  if (r >= 0)
    r = engine_read_caller (call, m, error);
  return r;
}

static int
detach_parse (Call *call, sd_bus_message *m, sd_bus_error *error)
{
  return change_parse (call, m, FALSE, error);
}

static int
reattach_parse (Call *call, sd_bus_message *m, sd_bus_error *error)
{
  return change_parse (call, m, TRUE, error);
}

/* Reads IOMMU group @group of the target and plans: 0, or <0 with
 * @error set.  On a reader before polkit (reads only) and again, under
 * the group's lock, on the worker. */
static int
change_plan (Call *call, uint32_t group, Plan **out, sd_bus_error *error)
{
  Manager *self = call->manager;
  Change *c = call->data;
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GHashTable) originals = NULL;
  g_auto (PlanRefusal) refusal = { 0 };
  g_autofree char *unreadable = NULL;
  int r;

  r = model_read_group (self->model, group, &devices, &unreadable);
  if (r < 0)
    return errors_from_sysfs (error, unreadable ? unreadable : call->name, r);

  if (!c->reattach)
    {
      r = group_plan_detach (g_steal_pointer (&devices), group, &call->target, c->flags, out,
                             &refusal);
      return r < 0 ? errors_from_refusal (error, &refusal) : 0;
    }
  if (assignments_reattach_only_forgets (self->records, devices, &call->target, c->flags))
    {
      *out = group_plan_keep (g_steal_pointer (&devices), group, &call->target,
                              "not on " VFIOD_DRIVER_VFIO_PCI
                              "; only its persistent assignment is removed");
      return 0;
    }
  originals = state_originals (self->state, devices, FALSE);
  r = group_plan_reattach (g_steal_pointer (&devices), group, &call->target, c->flags, originals,
                           out, &refusal);
  return r < 0 ? errors_from_refusal (error, &refusal) : 0;
}

/* The action ReattachDevice needs: a whole group, or a device vfiod did
 * not detach itself (no record: bound by an admin's boot configuration),
 * takes more than giving back one device vfiod detached. */
static const char *
reattach_action (Manager *self, const Plan *plan, uint64_t flags)
{
  g_autoptr (GHashTable) originals = NULL;

  if (flags & VFIOD_FLAG_GROUP)
    return VFIOD_ACTION_REATTACH_GROUP;
  /* what vfiod detached in this boot: a record of an earlier one may
   * cover what the admin's boot configuration bound since */
  originals = state_originals (self->state, plan->devices, TRUE);
  for (guint i = 0; i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (s->action != PLAN_KEEP && !g_hash_table_contains (originals, s->device->name))
        return VFIOD_ACTION_REATTACH_GROUP;
    }
  return VFIOD_ACTION_REATTACH_DEVICE;
}

/* Reader: plans, and says whether the call is settled without polkit
 * (refused, nothing to do, or only asked what would be done). */
static void
change_prepare (Call *call)
{
  Manager *self = call->manager;
  Change *c = call->data;

  if (engine_read_group (call) < 0 || change_plan (call, call->group, &c->plan, &call->error) < 0)
    return;
  call->settled = (plan_count_moves (c->plan) == 0 &&
                   !assignments_pending (self->records, c->plan, c->reattach, c->flags)) ||
                  (c->flags & VFIOD_FLAG_DRY_RUN);
  if (!call->settled && c->reattach)
    {
      g_autoptr (GHashTable) owners = state_owners (self->state);

      call->actions[0] = reattach_action (self, c->plan, c->flags);
      c->has_owner = use_group_owner (c->plan->devices, owners, &c->owner);
    }
}

/* Main thread: what polkit is asked. */
static void
change_authorize (Call *call)
{
  Change *c = call->data;
  const Plan *plan = c->plan;
  g_autoptr (GPtrArray) persist = assignments_to_record (plan, c->flags);
  gboolean others = plan_moves_others (plan);

  for (guint i = 0; i < persist->len; i++)
    others = others ||
             !address_equal (&((Device *) g_ptr_array_index (persist, i))->address, &plan->target);
  call->what = g_strdup_printf ("%s %s%s%s", c->reattach ? "reattach" : "detach", call->name,
                                others ? " and the rest of its IOMMU group" : "",
                                (c->flags & VFIOD_FLAG_PERSISTENT) ? " persistently" : "");

  engine_detail (call, 0, VFIOD_DETAIL_DEVICE, g_strdup (call->name));
  engine_detail (call, 1, VFIOD_DETAIL_GROUP, g_strdup_printf ("%u", call->group));
  engine_detail (call, 2, VFIOD_DETAIL_DEVICES, plan_moved_addresses (plan));
  if (c->reattach)
    {
      /* a rule may let users give back what they detached themselves */
      engine_detail (call, 3, VFIOD_DETAIL_OWNER_UID,
                     c->has_owner ? g_strdup_printf ("%u", (unsigned) c->owner)
                                  : g_strdup (VFIOD_OWNER_NONE));
      return;
    }
  call->actions[0] = others ? VFIOD_ACTION_DETACH_GROUP : VFIOD_ACTION_DETACH_DEVICE;
  /* the dialog says when the devices stay the VMs' at every boot */
  engine_detail (call, 3, VFIOD_DETAIL_PERSISTENT,
                 g_strdup ((c->flags & VFIOD_FLAG_PERSISTENT) ? "yes" : "no"));
  /* PERSISTENT takes the devices from the host at every boot, in the
   * initramfs too: an action of its own on top, so a rule that lets
   * users detach for a VM does not let them do that */
  if (c->flags & VFIOD_FLAG_PERSISTENT)
    call->actions[1] = VFIOD_ACTION_DETACH_PERSISTENT;
  /* FORCE on a device the host uses: the strongest say, on top */
  if (plan_moves_in_use (plan))
    call->actions[2] = VFIOD_ACTION_DETACH_IN_USE;
}

/* A reattach checks before it changes anything: holders first (an
 * unbind under an open device fd waits in the kernel, uninterruptibly),
 * then the grants, then sysfs.  A refused reattach leaves the VM owner's
 * ACL entries as they were.  0, or <0 with call->error set. */
static int
reattach_check_and_revoke (Call *call)
{
  g_autofree char *holders = vfio_group_holders (call->group);

  if (holders)
    return sd_bus_error_setf (&call->error, VFIOD_ERROR_GROUP_BUSY,
                              "IOMMU group %u of %s is open by %s, most likely a running "
                              "virtual machine: nothing was touched. Shut the VM down or "
                              "detach the device from it first",
                              call->group, call->name, holders);
  /* the host takes the group back: nobody may open it by path any more */
  return use_revoke (call->manager->grants, call->group, (uid_t) -1, call->what, NULL,
                     &call->error);
}

static int
detach_load_vfio (Call *call)
{
  g_autofree char *message = NULL;

  if (vfio_load (&message))
    return 0;
  return sd_bus_error_setf (&call->error, VFIOD_ERROR_VFIO_UNAVAILABLE,
                            "Cannot detach %s: the vfio-pci driver is not available (%s). "
                            "vfiod.service loads it at start (modprobe@vfio_pci.service): "
                            "install the kernel's VFIO modules (CONFIG_VFIO_PCI), check "
                            "dmesg, then restart vfiod.service; nothing was changed",
                            call->name, message);
}

/* The worker, under the group's lock: plan again (things may have moved
 * while polkit asked), check that the new plan is what was authorized,
 * then carry it out. */
static void
change_work (Call *call)
{
  Manager *self = call->manager;
  Change *c = call->data;
  g_autoptr (Plan) plan = NULL;
  g_autoptr (GPtrArray) persist = NULL;
  g_autoptr (GError) failure = NULL;
  int64_t group;
  gboolean moves;
  int r;

  r = sysfs_device_group (&call->target, &group);
  if (r < 0)
    {
      errors_from_sysfs (&call->error, call->name, r);
      return;
    }
  if (group != (int64_t) call->group)
    {
      sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                         "IOMMU group %u of %s changed while waiting for authorization: "
                         "nothing was done; look at the group again (GetGroup) and retry",
                         call->group, call->name);
      return;
    }
  if (change_plan (call, call->group, &plan, &call->error) < 0)
    return;
  moves = plan_count_moves (plan) > 0;
  if (moves && !plan_covered_by (plan, c->plan))
    {
      sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                         "IOMMU group %u of %s changed while waiting for authorization: "
                         "nothing was done; look at the group again (GetGroup) and retry",
                         call->group, call->name);
      return;
    }
  if (moves && c->reattach && reattach_check_and_revoke (call) < 0)
    return;
  if (moves && !c->reattach && detach_load_vfio (call) < 0)
    return;

  if (c->reattach &&
      !assignments_forget (self->records, plan, c->flags, &c->records_changed, &failure))
    {
      sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                         "Cannot %s: %s; nothing was moved. Is %s writable? (The "
                         "record can also be deleted by hand)",
                         call->what, failure->message, records_dir (self->records));
      return;
    }

  persist = c->reattach ? NULL : assignments_to_record (plan, c->flags);
  if (!moves && persist &&
      !assignments_write (self->records, plan, persist, &c->records_changed, &failure))
    {
      sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                         "Cannot %s: %s. The devices stay on vfio-pci until the next "
                         "boot; is %s writable?",
                         call->what, failure->message, records_dir (self->records));
      return;
    }
  /* what a detach moves is its caller's: recorded with the originals */
  if (!c->reattach)
    state_expect_owner (self->state, call->group, call->uid);
  r = moves ? transaction_run (self->state, self->records, plan, persist, call->progress,
                               &call->error)
            : 0;
  if (!c->reattach)
    state_clear_owner (self->state, call->group);
  if (r < 0)
    return;
  if (moves && persist && persist->len > 0)
    c->records_changed = TRUE;

  plan_free (c->plan);
  c->plan = g_steal_pointer (&plan);
}

/* Main thread, after the work. */
static void
change_finish (Call *call)
{
  Change *c = call->data;

  /* what it moved shows in the objects even without device events */
  if (c->plan && (plan_count_moves (c->plan) > 0 || c->records_changed))
    model_host_changed (call->manager->model);
  /* the copies the initramfs hook and the dracut module took are stale */
  if (c->records_changed)
    g_message ("Persistent assignments changed in %s: if the initramfs carries them, "
               "rebuild it (update-initramfs -u, or dracut -f) so the next boot follows",
               records_dir (call->manager->records));
}

static int
change_reply (Call *call, sd_bus_message *m)
{
  const Plan *plan = ((Change *) call->data)->plan;
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);

      r = sd_bus_message_append (m, "a{sv}", 5, VFIOD_KEY_ADDRESS, "s", s->device->name,
                                 VFIOD_KEY_ACTION, "s", plan_action_to_string (s->action),
                                 VFIOD_KEY_FROM, "s", s->from, VFIOD_KEY_TO, "s", s->to,
                                 VFIOD_KEY_REASON, "s", s->reason);
    }
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

const MethodSpec manager_changes[] = {
  {
      .method = SD_BUS_METHOD_WITH_ARGS (
          VFIOD_METHOD_DETACH_DEVICE, SD_BUS_ARGS ("s", device, "t", flags),
          SD_BUS_RESULT ("aa{sv}", plan), engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_GROUP | METHOD_WATCHDOG,
      .parse = detach_parse,
      .prepare = change_prepare,
      .authorize = change_authorize,
      .work = change_work,
      .reply = change_reply,
      .finish = change_finish,
      .free = change_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (
          VFIOD_METHOD_REATTACH_DEVICE, SD_BUS_ARGS ("s", device, "t", flags),
          SD_BUS_RESULT ("aa{sv}", plan), engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_GROUP | METHOD_WATCHDOG,
      .parse = reattach_parse,
      .prepare = change_prepare,
      .authorize = change_authorize,
      .work = change_work,
      .reply = change_reply,
      .finish = change_finish,
      .free = change_free,
  },
  ENGINE_METHODS_END,
};
