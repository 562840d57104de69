/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "group.h"

#include <string.h>

#include "names.h"

static void
step_free (PlanStep *step)
{
  g_free (step->from);
  g_free (step->to);
  g_free (step->reason);
  g_free (step);
}

void
plan_free (Plan *plan)
{
  if (plan == NULL)
    return;
  g_ptr_array_unref (plan->steps);
  g_ptr_array_unref (plan->devices);
  g_free (plan);
}

const char *
plan_action_to_string (PlanAction action)
{
  switch (action)
    {
    case PLAN_KEEP: return VFIOD_ACTION_KEEP;
    case PLAN_DETACH: return VFIOD_ACTION_DETACH;
    case PLAN_REATTACH: return VFIOD_ACTION_REATTACH;
    }
  g_assert_not_reached ();
}

static const char *
driver_or_empty (const Device *device)
{
  return device->driver ? device->driver : "";
}

static void
add_step (Plan *plan, Device *device, PlanAction action, const char *to, const char *reason)
{
  PlanStep *step = g_new0 (PlanStep, 1);

  step->device = device;
  step->action = action;
  step->from = g_strdup (driver_or_empty (device));
  step->to = g_strdup (to);
  step->reason = g_strdup (reason ? reason : "");
  g_ptr_array_add (plan->steps, step);
}

static Plan *
plan_new (GPtrArray *devices, uint32_t group, const PciAddress *target)
{
  Plan *plan = g_new0 (Plan, 1);

  plan->group = group;
  plan->target = *target;
  plan->devices = devices;
  plan->steps = g_ptr_array_new_with_free_func ((GDestroyNotify) step_free);
  return plan;
}

guint
plan_count_moves (const Plan *plan)
{
  guint n = 0;

  for (guint i = 0; i < plan->steps->len; i++)
    n += ((PlanStep *) g_ptr_array_index (plan->steps, i))->action != PLAN_KEEP;
  return n;
}

gboolean
plan_moves_others (const Plan *plan)
{
  for (guint i = 0; i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (s->action != PLAN_KEEP && !address_equal (&s->device->address, &plan->target))
        return TRUE;
    }
  return FALSE;
}

char *
plan_moved_addresses (const Plan *plan)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (s->action != PLAN_KEEP)
        g_string_append_printf (out, "%s%s", out->len ? " " : "", s->device->name);
    }
  return g_string_free (out, FALSE);
}

gboolean
plan_moves_in_use (const Plan *plan)
{
  for (guint i = 0; i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (s->action != PLAN_KEEP && s->device->in_use)
        return TRUE;
    }
  return FALSE;
}

gboolean
plan_covered_by (const Plan *later, const Plan *earlier)
{
  g_autofree char *a = plan_moved_addresses (later);
  g_autofree char *b = plan_moved_addresses (earlier);

  if (strcmp (a, b) != 0 || later->group != earlier->group)
    return FALSE;
  /* in use now but not then: that was not authorized */
  return !plan_moves_in_use (later) || plan_moves_in_use (earlier);
}

static Device *
find_target (GPtrArray *devices, const PciAddress *target)
{
  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      if (address_equal (&d->address, target))
        return d;
    }
  return NULL;
}

/* "0000:00:14.0 (Intel Corporation Sunrise Point USB 3.0, on xhci_hcd)" */
static void
append_device (GString *out, const Device *d)
{
  g_string_append (out, d->name);
  g_string_append (out, " (");
  if (*d->vendor || *d->model)
    g_string_append_printf (out, "%s%s%s, ", d->vendor, *d->vendor && *d->model ? " " : "",
                            d->model);
  if (d->driver)
    g_string_append_printf (out, "on %s)", d->driver);
  else
    g_string_append (out, "no driver)");
}

void
plan_refusal_clear (PlanRefusal *refusal)
{
  g_clear_pointer (&refusal->target_text, g_free);
  g_clear_pointer (&refusal->devices, g_ptr_array_unref);
  refusal->kind = REFUSAL_NONE;
}

/* Starts @refusal of @kind about @target (@t, when found); returns -1. */
static int
refuse (PlanRefusal *refusal, RefusalKind kind, uint32_t group, const PciAddress *target,
        const Device *t, gboolean group_mode)
{
  g_autoptr (GString) text = g_string_new (NULL);

  plan_refusal_clear (refusal);
  refusal->kind = kind;
  refusal->group = group;
  refusal->group_mode = group_mode;
  address_format (target, refusal->target);
  if (t)
    append_device (text, t);
  else
    g_string_append (text, refusal->target);
  refusal->target_text = g_string_free (g_steal_pointer (&text), FALSE);
  refusal->devices = g_ptr_array_new_with_free_func (g_free);
  return -1;
}

static const char *
keep_reason_detach (const Device *d, gboolean group_mode)
{
  switch (device_state (d))
    {
    case DEVICE_STATE_BRIDGE: return d->driver ? NULL : "bridge stays unbound";
    case DEVICE_STATE_VFIO: return "already on " VFIOD_DRIVER_VFIO_PCI;
    case DEVICE_STATE_STUB: return VFIOD_DRIVER_PCI_STUB " isolates it";
    case DEVICE_STATE_NONE: return group_mode ? NULL : "no driver: the host does not use it";
    case DEVICE_STATE_HOST: return NULL;
    }
  return NULL;
}

int
group_plan_detach (GPtrArray *devices, uint32_t group, const PciAddress *target, uint64_t flags,
                   Plan **out, PlanRefusal *refusal)
{
  g_autoptr (Plan) plan = plan_new (devices, group, target);
  gboolean group_mode = (flags & VFIOD_FLAG_GROUP) != 0;
  Device *t = find_target (devices, target);
  g_autoptr (GPtrArray) blockers = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) in_use = g_ptr_array_new_with_free_func (g_free);
  gboolean doubts = FALSE;

  if (t == NULL)
    return refuse (refusal, REFUSAL_NO_SUCH_DEVICE, group, target, NULL, group_mode);

  if (device_is_bridge (t))
    return refuse (refusal, REFUSAL_NOT_ASSIGNABLE, group, target, t, group_mode);

  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      DeviceState state = device_state (d);
      const char *keep;

      if (d == t)
        {
          if (state == DEVICE_STATE_VFIO)
            add_step (plan, d, PLAN_KEEP, VFIOD_DRIVER_VFIO_PCI,
                      "already on " VFIOD_DRIVER_VFIO_PCI);
          else
            add_step (plan, d, PLAN_DETACH, VFIOD_DRIVER_VFIO_PCI, NULL);
          continue;
        }

      if (state == DEVICE_STATE_BRIDGE && d->driver)
        {
          g_autofree char *why = g_strdup_printf ("bridge stays on %s", d->driver);
          add_step (plan, d, PLAN_KEEP, d->driver, why);
          continue;
        }

      keep = keep_reason_detach (d, group_mode);
      if (keep)
        {
          add_step (plan, d, PLAN_KEEP, driver_or_empty (d), keep);
          continue;
        }

      if (!group_mode)
        {
          /* a host driver on another device: the group is not viable */
          g_autoptr (GString) what = g_string_new (NULL);
          append_device (what, d);
          g_ptr_array_add (blockers, g_string_free (g_steal_pointer (&what), FALSE));
          add_step (plan, d, PLAN_KEEP, driver_or_empty (d), "the host keeps it");
          continue;
        }

      add_step (plan, d, PLAN_DETACH, VFIOD_DRIVER_VFIO_PCI,
                d->driver ? NULL : "no driver now; driver_override keeps host drivers off");
    }

  if (blockers->len)
    {
      refuse (refusal, REFUSAL_NOT_VIABLE, group, target, t, group_mode);
      g_ptr_array_extend_and_steal (refusal->devices, g_steal_pointer (&blockers));
      return -1;
    }

  /* in use, or vfiod cannot tell (a doubt): both refuse without FORCE */
  for (guint i = 0; i < plan->steps->len; i++)
    {
      PlanStep *s = g_ptr_array_index (plan->steps, i);
      if (s->action != PLAN_KEEP && s->device->in_use)
        {
          g_ptr_array_add (in_use, g_strdup_printf ("%s %s in use by the host: %s", s->device->name,
                                                    s->device->in_use_doubt ? "may be" : "is",
                                                    s->device->in_use));
          doubts = doubts || s->device->in_use_doubt;
        }
    }
  if (in_use->len && !(flags & VFIOD_FLAG_FORCE))
    {
      refuse (refusal, REFUSAL_IN_USE, group, target, t, group_mode);
      g_ptr_array_extend_and_steal (refusal->devices, g_steal_pointer (&in_use));
      refusal->doubt = doubts;
      return -1;
    }

  *out = g_steal_pointer (&plan);
  return 0;
}

Plan *
group_plan_keep (GPtrArray *devices, uint32_t group, const PciAddress *target, const char *why)
{
  g_autoptr (Plan) plan = plan_new (devices, group, target);

  if (find_target (devices, target) == NULL)
    return NULL;
  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      add_step (plan, d, PLAN_KEEP, driver_or_empty (d), why);
    }
  return g_steal_pointer (&plan);
}

int
group_plan_reattach (GPtrArray *devices, uint32_t group, const PciAddress *target, uint64_t flags,
                     GHashTable *originals, Plan **out, PlanRefusal *refusal)
{
  g_autoptr (Plan) plan = plan_new (devices, group, target);
  gboolean group_mode = (flags & VFIOD_FLAG_GROUP) != 0;
  Device *t = find_target (devices, target);

  if (t == NULL)
    return refuse (refusal, REFUSAL_NO_SUCH_DEVICE, group, target, NULL, group_mode);

  if (device_state (t) != DEVICE_STATE_VFIO)
    return refuse (refusal, REFUSAL_NOT_DETACHED, group, target, t, group_mode);

  for (guint i = 0; i < devices->len; i++)
    {
      Device *d = g_ptr_array_index (devices, i);
      const char *original;

      if ((d != t && !group_mode) || device_state (d) != DEVICE_STATE_VFIO)
        {
          const char *why = device_state (d) == DEVICE_STATE_VFIO
                                ? "stays on " VFIOD_DRIVER_VFIO_PCI " (not asked for)"
                            : d->driver ? "not on " VFIOD_DRIVER_VFIO_PCI
                                        : "no driver";
          if (device_state (d) == DEVICE_STATE_BRIDGE && d->driver)
            why = "bridge stays as it is";
          add_step (plan, d, PLAN_KEEP, driver_or_empty (d), why);
          continue;
        }

      original = originals ? g_hash_table_lookup (originals, d->name) : NULL;
      add_step (plan, d, PLAN_REATTACH, original ? original : "",
                original ? (*original ? NULL : "had no driver before")
                         : "detached before vfiod knew it: the kernel picks the driver");
    }

  *out = g_steal_pointer (&plan);
  return 0;
}

gboolean
group_viable (GPtrArray *devices)
{
  if (devices->len == 0)
    return FALSE;
  for (guint i = 0; i < devices->len; i++)
    if (!device_leaves_dma_to_vfio (g_ptr_array_index (devices, i)))
      return FALSE;
  return TRUE;
}
