/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "assignments.h"

#include <string.h>

#include "names.h"

static gboolean
is_target (const Plan *plan, const Device *d)
{
  return address_equal (&d->address, &plan->target);
}

GPtrArray *
assignments_to_record (const Plan *plan, uint64_t flags)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; (flags & VFIOD_FLAG_PERSISTENT) && i < plan->steps->len; i++)
    {
      const PlanStep *s = g_ptr_array_index (plan->steps, i);

      if (s->action == PLAN_DETACH ||
          (s->action == PLAN_KEEP && device_state (s->device) == DEVICE_STATE_VFIO &&
           ((flags & VFIOD_FLAG_GROUP) || is_target (plan, s->device))))
        g_ptr_array_add (out, s->device);
    }
  return out;
}

gboolean
assignments_to_forget (Records *records, GPtrArray *devices, const PciAddress *target,
                       uint64_t flags)
{
  for (guint i = 0; i < devices->len; i++)
    {
      const Device *d = g_ptr_array_index (devices, i);
      g_autoptr (RecordEntry) e = NULL;

      if (!(flags & VFIOD_FLAG_GROUP) && !address_equal (&d->address, target))
        continue;
      e = records_lookup (records, d->name);
      if (e)
        return TRUE;
    }
  return FALSE;
}

gboolean
assignments_reattach_only_forgets (Records *records, GPtrArray *devices, const PciAddress *target,
                                   uint64_t flags)
{
  for (guint i = 0; i < devices->len; i++)
    {
      const Device *d = g_ptr_array_index (devices, i);
      if (address_equal (&d->address, target))
        return device_state (d) != DEVICE_STATE_VFIO &&
               assignments_to_forget (records, devices, target, flags);
    }
  return FALSE;
}

gboolean
assignments_pending (Records *records, const Plan *plan, gboolean reattach, uint64_t flags)
{
  g_autoptr (GPtrArray) persist = NULL;

  if (reattach)
    return assignments_to_forget (records, plan->devices, &plan->target, flags);
  persist = assignments_to_record (plan, flags);
  for (guint i = 0; i < persist->len; i++)
    if (!records_up_to_date (records, g_ptr_array_index (persist, i), plan->devices))
      return TRUE;
  return FALSE;
}

gboolean
assignments_forget (Records *records, const Plan *plan, uint64_t flags, gboolean *changed,
                    GError **error)
{
  for (guint i = 0; i < plan->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (plan->devices, i);
      g_autoptr (RecordEntry) e = NULL;

      if (!(flags & VFIOD_FLAG_GROUP) && !is_target (plan, d))
        continue;
      e = records_lookup (records, d->name);
      if (e == NULL)
        continue;
      if (!records_remove (records, d->name, error))
        return FALSE;
      *changed = TRUE;
      g_message ("Removed the persistent assignment of %s", d->name);
    }
  return TRUE;
}

gboolean
assignments_write (Records *records, const Plan *plan, GPtrArray *persist, gboolean *changed,
                   GError **error)
{
  for (guint i = 0; i < persist->len; i++)
    {
      const Device *d = g_ptr_array_index (persist, i);

      if (records_up_to_date (records, d, plan->devices))
        continue;
      if (!records_write (records, d, plan->devices, error))
        return FALSE;
      *changed = TRUE;
      g_message ("Recorded %s as a persistent assignment in %s", d->name, records_dir (records));
    }
  return TRUE;
}

void
assignments_warn (Records *records, Model *model)
{
  g_autoptr (GPtrArray) entries = records_list (records);

  for (guint i = 0; i < entries->len; i++)
    {
      const RecordEntry *e = g_ptr_array_index (entries, i);
      const Device *d = model_device (model, e->address);
      g_autofree char *check = records_check (e, d);

      if (!g_str_has_prefix (check, VFIOD_PERSISTENT_ACTIVE))
        g_warning ("Persistent assignment of %s not carried out: %s. The device was left to "
                   "the host; remove the assignment with ReattachDevice (vfioctl reattach %s) "
                   "or by deleting %s, or record the device there now with DetachDevice "
                   "PERSISTENT",
                   e->address, check + strlen (VFIOD_PERSISTENT_MISMATCH), e->address, e->path);
      else if (d && g_strcmp0 (d->driver, VFIOD_DRIVER_VFIO_PCI) != 0)
        g_message ("Persistent assignment of %s holds, but the device is on %s, not %s (booted "
                   "with " VFIOD_CMDLINE_PERSISTENT "=0, or the boot helper failed: see the "
                   "kernel log)",
                   e->address, d->driver ? d->driver : "no driver", VFIOD_DRIVER_VFIO_PCI);
    }
}
