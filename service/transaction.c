/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "transaction.h"

#include <errno.h>
#include <string.h>

#include "sysfs.h"
#include "vfio.h"
#include "vfiod-names.h"

/* What failed, for the error message. */
typedef struct {
  const char *device;
  char *step;
  int error;        /* -errno */
  char *detail;     /* instead of an errno, when the kernel said no quietly */
} Failure;

static void
failure_clear (Failure *f)
{
  g_free (f->step);
  g_free (f->detail);
}

static int
fail (Failure *f, const char *device, int r, const char *detail, const char *fmt, ...)
  G_GNUC_PRINTF (5, 6);

static int
fail (Failure *f, const char *device, int r, const char *detail, const char *fmt, ...)
{
  va_list ap;

  f->device = device;
  f->error = r;
  f->detail = g_strdup (detail);
  va_start (ap, fmt);
  f->step = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  return r < 0 ? r : -EIO;
}

static const char *
errno_name (int r)
{
  const char *name = strerrorname_np (-r);
  return name ? name : "?";
}

/* Brings @device onto @driver (NULL: unbound, or whatever the kernel
 * picks if @any), leaving driver_override at @override: the one move
 * detach, reattach and rollback all make.  @current is its driver now.
 *
 * While the kernel probes, driver_override names @driver: no other
 * driver whose ID table matches (a GPU set aside on pci-stub, and
 * nouveau) can take the device on its way.  The kernel still hands the
 * driver its own ID-table entry, so the driver sees the device as usual. */
static int
device_move (const char *device, const char *current, const char *driver, const char *override,
             gboolean any, Failure *f)
{
  const char *steer = driver && !any ? driver : override;
  g_autofree char *now = NULL;
  int r;

  r = sysfs_set_override (device, steer);
  if (r < 0)
    return fail (f, device, r, NULL, "writing %s to driver_override",
                 steer ? steer : "\\n (clearing)");

  if (current && g_strcmp0 (current, driver) != 0)
    {
      r = sysfs_unbind (device, current);
      if (r < 0)
        return fail (f, device, r, NULL, "unbinding it from %s", current);
    }

  if (driver != NULL || any)
    {
      if (g_strcmp0 (current, driver) != 0)
        {
          r = sysfs_probe (device);
          if (r < 0)
            return fail (f, device, r, NULL, "writing it to drivers_probe");
        }

      r = sysfs_get_driver (device, &now);
      if (r < 0)
        return fail (f, device, r, NULL, "reading back its driver");

      if (!any && g_strcmp0 (now, driver) != 0)
        {
          /* the probe left it elsewhere (or nowhere): ask ours directly */
          if (now)
            {
              r = sysfs_unbind (device, now);
              if (r < 0)
                return fail (f, device, r, NULL,
                             "unbinding it from %s, which took it instead of %s", now, driver);
            }
          r = sysfs_bind (device, driver);
          g_clear_pointer (&now, g_free);
          if (r >= 0)
            r = sysfs_get_driver (device, &now);
          if (r < 0 || g_strcmp0 (now, driver) != 0)
            {
              g_autofree char *detail = g_strdup_printf ("%s did not take it; it is %s%s", driver,
                                                         now ? "now on " : "unbound",
                                                         now ? now : "");
              return fail (f, device, r < 0 ? r : -ENXIO, r < 0 ? NULL : detail,
                           "binding it to %s", driver);
            }
        }
    }

  /* the device is where it belongs: now the override it keeps */
  if (g_strcmp0 (steer, override) != 0)
    {
      r = sysfs_set_override (device, override);
      if (r < 0)
        return fail (f, device, r, NULL, "writing %s to driver_override",
                     override ? override : "\\n (clearing)");
    }
  return 0;
}

/* Where a device goes back to when its operation is undone. */
static int
device_restore (const StateRecord *rec, Failure *f)
{
  g_autofree char *current = NULL;
  int r = sysfs_get_driver (rec->device, &current);

  if (r < 0)
    return fail (f, rec->device, r, NULL, "reading its driver");

  if (rec->pending == STATE_OP_REATTACH)
    /* it was on vfio-pci, held there by its override */
    return device_move (rec->device, current, VFIOD_DRIVER_VFIO_PCI, VFIOD_DRIVER_VFIO_PCI,
                        FALSE, f);

  if (!rec->known)
    return device_move (rec->device, current, NULL, NULL, TRUE, f);
  return device_move (rec->device, current, rec->driver, rec->override, FALSE, f);
}

/* Whether @device has left the machine (its sysfs directory is gone). */
static gboolean
device_gone (const char *device)
{
  g_autofree char *driver = NULL;

  return sysfs_get_driver (device, &driver) == -ENODEV;
}

/* Puts back every device of @touched (StateRecord*, newest last). */
static void
rollback (State *state, GPtrArray *touched, GString *report)
{
  for (guint i = touched->len; i-- > 0;)
    {
      const StateRecord *rec = g_ptr_array_index (touched, i);
      g_autoptr (GError) error = NULL;
      Failure f = { 0 };
      gboolean detached = rec->pending == STATE_OP_REATTACH;
      int r = device_restore (rec, &f);

      if (r < 0 && device_gone (rec->device))
        {
          /* hot-removed: the kernel dropped its driver and override with
           * it, so there is nothing to put back, nor to retry at start-up */
          g_message ("%s is gone (removed from the machine): nothing to put back", rec->device);
          g_string_append_printf (report, "%s%s is gone (removed from the machine)",
                                  report->len ? ", " : "", rec->device);
          failure_clear (&f);
          if (!state_finish (state, rec->device, FALSE, &error))
            g_warning ("Could not drop the record of %s: %s", rec->device, error->message);
          continue;
        }
      if (r < 0)
        {
          g_warning ("Could not put %s back: %s failed: %s", rec->device, f.step,
                     f.detail ? f.detail : g_strerror (-f.error));
          g_string_append_printf (report, "%s%s could NOT be put back (%s: %s)",
                                  report->len ? ", " : "", rec->device, f.step,
                                  f.detail ? f.detail : g_strerror (-f.error));
          failure_clear (&f);
          /* leave the record pending: the next start-up tries again */
          continue;
        }
      g_message ("Put %s back on %s", rec->device,
                 detached ? VFIOD_DRIVER_VFIO_PCI : rec->driver ? rec->driver : "no driver");
      g_string_append_printf (report, "%s%s is back on %s", report->len ? ", " : "", rec->device,
                              detached ? VFIOD_DRIVER_VFIO_PCI
                                       : rec->known && rec->driver ? rec->driver : "its old driver");
      if (!state_finish (state, rec->device, detached, &error))
        g_warning ("Could not record that %s is back: %s", rec->device, error->message);
    }
}

static int
step_run (State *state, const Plan *plan, PlanStep *step, GPtrArray *touched, Failure *f)
{
  const char *device = step->device->name;
  g_autoptr (GError) error = NULL;
  g_autofree char *override = NULL;
  g_autofree char *now = NULL;
  StateRecord *rec;
  int r;

  if (step->action == PLAN_DETACH)
    {
      r = sysfs_get_override (device, &override);
      if (r < 0)
        return fail (f, device, r, NULL, "reading its driver_override");
      if (!state_begin_detach (state, device, plan->group, step->device->driver, override, &error))
        return fail (f, device, -EIO, error->message, "recording its original driver");
    }
  else if (!state_begin_reattach (state, device, plan->group, &error))
    return fail (f, device, -EIO, error->message, "recording the reattach");

  rec = state_lookup (state, device);
  g_ptr_array_add (touched, rec);

  if (step->action == PLAN_DETACH)
    r = device_move (device, step->device->driver, VFIOD_DRIVER_VFIO_PCI, VFIOD_DRIVER_VFIO_PCI,
                     FALSE, f);
  else if (!rec->known)
    r = device_move (device, step->device->driver, NULL, NULL, TRUE, f);
  else
    r = device_move (device, step->device->driver, rec->driver, rec->override, FALSE, f);
  if (r < 0)
    return r;

  r = sysfs_get_driver (device, &now);
  g_free (step->to);
  step->to = g_strdup (r >= 0 && now ? now : "");
  return 0;
}

int
transaction_run (State *state, Plan *plan, sd_bus_error *error)
{
  g_autoptr (GPtrArray) touched = g_ptr_array_new_with_free_func ((GDestroyNotify) state_record_free);
  g_autoptr (GString) report = g_string_new (NULL);
  Failure f = { 0 };
  int r = 0;

  for (guint i = 0; i < plan->steps->len && r >= 0; i++)
    {
      PlanStep *step = g_ptr_array_index (plan->steps, i);

      if (step->action == PLAN_KEEP)
        continue;
      g_message ("%s %s: %s → %s", step->action == PLAN_DETACH ? "Detaching" : "Reattaching",
                 step->device->name, *step->from ? step->from : "no driver",
                 *step->to ? step->to : "host");
      r = step_run (state, plan, step, touched, &f);
    }

  if (r >= 0)
    {
      for (guint i = 0; i < touched->len; i++)
        {
          const StateRecord *rec = g_ptr_array_index (touched, i);
          g_autoptr (GError) e = NULL;

          if (!state_finish (state, rec->device, rec->pending == STATE_OP_DETACH, &e))
            g_warning ("Could not record the end of the operation on %s: %s", rec->device,
                       e->message);
        }
      return 0;
    }

  g_warning ("%s failed at %s: %s; rolling back", f.device, f.step,
             f.detail ? f.detail : g_strerror (-f.error));
  rollback (state, touched, report);

  {
    g_autofree char *why = f.detail ? g_strdup (f.detail)
                                    : g_strdup_printf ("%s (%s)", g_strerror (-f.error),
                                                       errno_name (f.error));
    r = sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                           "Could not move %s: %s failed: %s. Rolled back: %s. Is the "
                           "device busy or gone? vfioctl group %s shows where things "
                           "stand; the service's log (journalctl -u vfiod) has each step",
                           f.device, f.step, why,
                           report->len ? report->str : "no device had been touched",
                           f.device);
  }
  failure_clear (&f);
  return r;
}

void
transaction_recover (State *state)
{
  g_autoptr (GPtrArray) pending = state_list_pending (state);
  g_autoptr (GString) report = g_string_new (NULL);

  if (pending->len == 0)
    return;
  g_message ("Found %u device(s) left mid-operation by an earlier run: rolling back",
             pending->len);
  for (guint i = 0; i < pending->len; i++)
    {
      StateRecord *rec = g_ptr_array_index (pending, i);
      g_message ("Rolling back the %s of %s",
                 rec->pending == STATE_OP_DETACH ? "detach" : "reattach", rec->device);
    }
  rollback (state, pending, report);
  g_message ("Recovery: %s", report->str);
}
