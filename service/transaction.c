/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "transaction.h"

#include <errno.h>
#include <string.h>

#include "probe.h"
#include "sysfs.h"
#include "vfio.h"
#include "names.h"

/* What failed, for the error message. */
typedef struct {
  const char *device;
  char *step;
  int error;    /* -errno */
  char *detail; /* instead of an errno, when the kernel said no quietly */
} Failure;

static void
failure_clear (Failure *f)
{
  g_free (f->step);
  g_free (f->detail);
}

static int fail (Failure *f, const char *device, int r, const char *detail, const char *fmt, ...)
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

/* ---- progress ------------------------------------------------------------ */

struct TransactionProgress {
  GMutex lock;
  char *current; /* the write under way, or NULL */
  gint64 since;
  gboolean abandoned;
};

TransactionProgress *
transaction_progress_new (void)
{
  TransactionProgress *p = g_new0 (TransactionProgress, 1);

  g_mutex_init (&p->lock);
  return p;
}

void
transaction_progress_free (TransactionProgress *p)
{
  if (p == NULL)
    return;
  g_free (p->current);
  g_mutex_clear (&p->lock);
  g_free (p);
}

char *
transaction_progress_current (TransactionProgress *p, gint64 *since)
{
  char *current;

  g_mutex_lock (&p->lock);
  current = g_strdup (p->current);
  if (since)
    *since = p->since;
  g_mutex_unlock (&p->lock);
  return current;
}

void
transaction_progress_abandon (TransactionProgress *p)
{
  g_mutex_lock (&p->lock);
  p->abandoned = TRUE;
  g_mutex_unlock (&p->lock);
}

gboolean
transaction_progress_abandoned (TransactionProgress *p)
{
  gboolean abandoned;

  if (p == NULL)
    return FALSE;
  g_mutex_lock (&p->lock);
  abandoned = p->abandoned;
  g_mutex_unlock (&p->lock);
  return abandoned;
}

static void progress_begin (TransactionProgress *p, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

/* A write is about to start (it may never return: a driver stuck in its
 * remove); the main loop's watchdog reads this. */
static void
progress_begin (TransactionProgress *p, const char *fmt, ...)
{
  va_list ap;

  if (p == NULL)
    return;
  g_mutex_lock (&p->lock);
  g_free (p->current);
  va_start (ap, fmt);
  p->current = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  p->since = g_get_monotonic_time ();
  g_mutex_unlock (&p->lock);
}

static void
progress_end (TransactionProgress *p)
{
  if (p == NULL)
    return;
  g_mutex_lock (&p->lock);
  g_clear_pointer (&p->current, g_free);
  g_mutex_unlock (&p->lock);
}

static const char *
errno_name (int r)
{
  const char *name = strerrorname_np (-r);
  return name ? name : "?";
}

/* After each write: was the caller answered meanwhile (the write was
 * stuck)?  Then nothing more is done: the caller of device_move() rolls
 * back. */
#define CHECK_ABANDONED(p, f, device)                      \
  do                                                       \
    {                                                      \
      if (transaction_progress_abandoned (p))              \
        return fail (f, device, -ECANCELED,                \
                     "its caller was answered already (a " \
                     "write was stuck), so vfiod stopped", \
                     "going on");                          \
    }                                                      \
  while (0)

static int
tracked_set_override (TransactionProgress *p, const char *device, const char *driver)
{
  int r;

  progress_begin (p, "writing %s to the driver_override of %s", driver ? driver : "\\n", device);
  r = sysfs_set_override (device, driver);
  progress_end (p);
  return r;
}

static int
tracked_unbind (TransactionProgress *p, const char *device, const char *driver)
{
  int r;

  progress_begin (p, "unbinding %s from %s", device, driver);
  r = sysfs_unbind (device, driver);
  progress_end (p);
  return r;
}

static int
tracked_probe (TransactionProgress *p, const char *device)
{
  int r;

  progress_begin (p, "probing drivers for %s", device);
  r = sysfs_probe (device);
  progress_end (p);
  return r;
}

static int
tracked_bind (TransactionProgress *p, const char *device, const char *driver)
{
  int r;

  progress_begin (p, "binding %s to %s", device, driver);
  r = sysfs_bind (device, driver);
  progress_end (p);
  return r;
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
             gboolean any, TransactionProgress *p, Failure *f)
{
  const char *steer = driver && !any ? driver : override;
  g_autofree char *now = NULL;
  int r;

  r = tracked_set_override (p, device, steer);
  if (r < 0)
    return fail (f, device, r, NULL, "writing %s to driver_override",
                 steer ? steer : "\\n (clearing)");
  CHECK_ABANDONED (p, f, device);

  if (current && g_strcmp0 (current, driver) != 0)
    {
      r = tracked_unbind (p, device, current);
      if (r < 0)
        return fail (f, device, r, NULL, "unbinding it from %s", current);
      CHECK_ABANDONED (p, f, device);
    }

  if (driver != NULL || any)
    {
      if (g_strcmp0 (current, driver) != 0)
        {
          r = tracked_probe (p, device);
          if (r < 0)
            return fail (f, device, r, NULL, "writing it to drivers_probe");
          CHECK_ABANDONED (p, f, device);
        }

      r = sysfs_get_driver (device, &now);
      if (r < 0)
        return fail (f, device, r, NULL, "reading back its driver");

      if (!any && g_strcmp0 (now, driver) != 0)
        {
          /* the probe left it elsewhere (or nowhere): ask ours directly */
          if (now)
            {
              r = tracked_unbind (p, device, now);
              if (r < 0)
                return fail (f, device, r, NULL,
                             "unbinding it from %s, which took it instead of %s", now, driver);
              CHECK_ABANDONED (p, f, device);
            }
          r = tracked_bind (p, device, driver);
          g_clear_pointer (&now, g_free);
          if (r >= 0)
            r = sysfs_get_driver (device, &now);
          if (r < 0 || g_strcmp0 (now, driver) != 0)
            {
              g_autofree char *detail =
                  g_strdup_printf ("%s did not take it; it is %s%s", driver,
                                   now ? "now on " : "unbound", now ? now : "");
              return fail (f, device, r < 0 ? r : -ENXIO, r < 0 ? NULL : detail, "binding it to %s",
                           driver);
            }
          CHECK_ABANDONED (p, f, device);
        }
    }

  /* the device is where it belongs: now the override it keeps */
  if (g_strcmp0 (steer, override) != 0)
    {
      r = tracked_set_override (p, device, override);
      if (r < 0)
        return fail (f, device, r, NULL, "writing %s to driver_override",
                     override ? override : "\\n (clearing)");
    }
  return 0;
}

/* Puts a member of a transaction of @op back where it was before; does
 * nothing to one already there (a member the transaction never reached).
 * Rollback must not stop half-way for an abandoned caller: no progress. */
static int
device_restore (const StateOriginal *rec, StateOp op, Failure *f)
{
  g_autofree char *current = NULL, *override = NULL;
  int r = sysfs_get_driver (rec->device, &current);

  if (r < 0)
    return fail (f, rec->device, r, NULL, "reading its driver");
  r = sysfs_get_override (rec->device, &override);
  if (r < 0)
    return fail (f, rec->device, r, NULL, "reading its driver_override");

  if (op == STATE_OP_REATTACH)
    {
      /* it was on vfio-pci, held there by its override */
      if (g_strcmp0 (current, VFIOD_DRIVER_VFIO_PCI) == 0 &&
          g_strcmp0 (override, VFIOD_DRIVER_VFIO_PCI) == 0)
        return 0;
      return device_move (rec->device, current, VFIOD_DRIVER_VFIO_PCI, VFIOD_DRIVER_VFIO_PCI, FALSE,
                          NULL, f);
    }

  if (!rec->known)
    return device_move (rec->device, current, NULL, NULL, TRUE, NULL, f);
  if (g_strcmp0 (current, rec->driver) == 0 && g_strcmp0 (override, rec->override) == 0)
    return 0;
  return device_move (rec->device, current, rec->driver, rec->override, FALSE, NULL, f);
}

/* Puts back the first @touched members of @t, newest first, then ends the
 * transaction in one write; if any member cannot be put back, the whole
 * transaction stays pending (the next start-up tries again).  Appends what
 * became of each device to @report.  Returns whether it ended. */
static gboolean
rollback (State *state, Records *records, const StateTransaction *t, guint touched, GString *report)
{
  g_autofree StateFate *fates = g_new0 (StateFate, t->members->len);
  /* members never reached are where they were */
  StateFate before = t->op == STATE_OP_DETACH ? STATE_FATE_ON_HOST : STATE_FATE_ON_VFIO;
  g_autoptr (GError) error = NULL;
  gboolean complete = TRUE;

  for (guint i = 0; i < t->members->len; i++)
    fates[i] = before;

  for (guint i = touched; i-- > 0;)
    {
      const StateOriginal *rec = g_ptr_array_index (t->members, i);
      Failure f = { 0 };
      gboolean to_vfio = t->op == STATE_OP_REATTACH;
      int r = device_restore (rec, t->op, &f);

      if (r < 0 && sysfs_device_gone (rec->device))
        {
          /* hot-removed: the kernel dropped its driver and override with
           * it, so there is nothing to put back, nor to retry at start-up */
          g_message ("%s is gone (removed from the machine): nothing to put back", rec->device);
          g_string_append_printf (report, "%s%s is gone (removed from the machine)",
                                  report->len ? ", " : "", rec->device);
          fates[i] = STATE_FATE_ON_HOST;
          failure_clear (&f);
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
          complete = FALSE;
          continue;
        }
      g_message ("Put %s back on %s", rec->device,
                 to_vfio       ? VFIOD_DRIVER_VFIO_PCI
                 : rec->driver ? rec->driver
                               : "no driver");
      g_string_append_printf (report, "%s%s is back on %s", report->len ? ", " : "", rec->device,
                              to_vfio                     ? VFIOD_DRIVER_VFIO_PCI
                              : rec->known && rec->driver ? rec->driver
                                                          : "its old driver");
      fates[i] = to_vfio ? STATE_FATE_ON_VFIO : STATE_FATE_ON_HOST;
    }

  /* a persistent detach undone: its records (written last, perhaps not
   * at all) must not bind these devices at the next boot */
  for (guint i = 0; t->persistent && i < t->members->len; i++)
    {
      const StateOriginal *rec = g_ptr_array_index (t->members, i);
      g_autoptr (GError) gerror = NULL;

      if (!records_remove (records, rec->device, &gerror))
        {
          g_warning ("%s", gerror->message);
          g_string_append_printf (report,
                                  "%sthe persistent assignment of %s could NOT be "
                                  "removed",
                                  report->len ? ", " : "", rec->device);
          complete = FALSE;
        }
    }

  if (!complete)
    {
      g_warning ("Transaction %" G_GUINT64_FORMAT
                 " stays pending: vfiod tries again at its next start",
                 t->id);
      g_string_append (report, "; vfiod tries again at its next start");
      return FALSE;
    }
  if (!state_end (state, t, fates, &error))
    {
      g_warning ("Could not record the end of transaction %" G_GUINT64_FORMAT ": %s", t->id,
                 error->message);
      return FALSE;
    }
  return TRUE;
}

static int
step_run (const StateTransaction *t, guint index, PlanStep *step, TransactionProgress *p,
          Failure *f)
{
  const StateOriginal *rec = g_ptr_array_index (t->members, index);
  const char *device = step->device->name;
  g_autofree char *now = NULL;
  int r;

  if (step->action == PLAN_DETACH)
    r = device_move (device, step->device->driver, VFIOD_DRIVER_VFIO_PCI, VFIOD_DRIVER_VFIO_PCI,
                     FALSE, p, f);
  else if (!rec->known)
    r = device_move (device, step->device->driver, NULL, NULL, TRUE, p, f);
  else
    r = device_move (device, step->device->driver, rec->driver, rec->override, FALSE, p, f);
  if (r < 0)
    return r;

  r = sysfs_get_driver (device, &now);
  g_free (step->to);
  step->to = g_strdup (r >= 0 && now ? now : "");
  return 0;
}

/* What is recorded of each moving device before anything is written:
 * for a detach, the driver and override it has now; for a reattach, its
 * record (or an unknown one). */
static int
members_prepare (State *state, const Plan *plan, GPtrArray *steps, GPtrArray *members, Failure *f)
{
  for (guint i = 0; i < plan->steps->len; i++)
    {
      PlanStep *step = g_ptr_array_index (plan->steps, i);
      const char *device = step->device->name;
      StateIdentity now;
      StateOriginal *rec;

      if (step->action == PLAN_KEEP)
        continue;
      g_ptr_array_add (steps, step);
      /* the device now at the address, as the plan read it under the
       * group's lock: what a restart checks before it acts on the record */
      state_identity_from_device (&now, step->device);
      if (step->action == PLAN_DETACH)
        {
          g_autofree char *override = NULL;
          int r = sysfs_get_override (device, &override);

          if (r < 0)
            return fail (f, device, r, NULL, "reading its driver_override");
          rec = state_original_new (device, plan->group, TRUE, step->device->driver, override);
        }
      else
        {
          g_autofree char *why = NULL;

          rec = state_lookup (state, device);
          if (rec && !state_identity_matches (&rec->identity, &now, &why))
            {
              /* a record of another device (replaced while vfiod was not
               * running): its driver is not this one's */
              g_message ("The record of %s is not of the device there now (%s): not used; the "
                         "kernel picks the driver it goes back to",
                         device, why);
              g_clear_pointer (&rec, state_original_free);
            }
          if (rec == NULL)
            rec = state_original_new (device, plan->group, FALSE, NULL, NULL);
        }
      rec->identity = now;
      g_ptr_array_add (members, rec);
    }
  return 0;
}

int
transaction_run (State *state, Records *records, Plan *plan, GPtrArray *persist,
                 TransactionProgress *progress, sd_bus_error *error)
{
  g_autoptr (GPtrArray) steps = g_ptr_array_new ();
  g_autoptr (GPtrArray) members =
      g_ptr_array_new_with_free_func ((GDestroyNotify) state_original_free);
  g_autoptr (StateTransaction) t = NULL;
  g_autoptr (GString) report = g_string_new (NULL);
  g_autoptr (GError) gerror = NULL;
  g_autofree StateFate *fates = NULL;
  Failure f = { 0 };
  guint touched = 0;
  StateOp op;
  int r;

  {
    /* a transaction of this group that could not be undone completely is
     * still pending: acting beside it would record a device twice */
    g_autoptr (GPtrArray) pending = state_list_pending (state);

    for (guint i = 0; i < pending->len; i++)
      if (((StateTransaction *) g_ptr_array_index (pending, i))->group == plan->group)
        return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_BUSY,
                                  "IOMMU group %u has an earlier operation that could not be "
                                  "undone completely (the service's log, journalctl -u vfiod, "
                                  "names the device): nothing was done. vfiod tries again at "
                                  "its next start; fix the cause, then restart it",
                                  plan->group);
  }

  r = members_prepare (state, plan, steps, members, &f);
  if (r >= 0 && steps->len == 0)
    return 0;
  if (r >= 0)
    {
      op = ((PlanStep *) g_ptr_array_index (steps, 0))->action == PLAN_DETACH ? STATE_OP_DETACH
                                                                              : STATE_OP_REATTACH;
      t = state_begin (state, op, plan->group, persist && persist->len > 0, members, &gerror);
      if (t == NULL)
        r = fail (&f, ((StateOriginal *) g_ptr_array_index (members, 0))->device, -EIO,
                  gerror->message, "recording the original drivers");
    }

  for (guint i = 0; t && r >= 0 && i < steps->len; i++)
    {
      PlanStep *step = g_ptr_array_index (steps, i);

      if (transaction_progress_abandoned (progress))
        {
          r = fail (&f, step->device->name, -ECANCELED,
                    "its caller was answered already (a "
                    "write was stuck), so vfiod stopped",
                    "going on");
          break;
        }
      g_message ("%s %s: %s → %s", step->action == PLAN_DETACH ? "Detaching" : "Reattaching",
                 step->device->name, *step->from ? step->from : "no driver",
                 *step->to ? step->to : "host");
      touched = i + 1; /* a failed step may have written part of its move */
      r = step_run (t, i, step, progress, &f);
    }

  if (t && r >= 0 && transaction_progress_abandoned (progress))
    r = fail (&f, ((StateOriginal *) g_ptr_array_index (t->members, touched - 1))->device,
              -ECANCELED, "its caller was answered already (a write was stuck)", "finishing");

  /* every device moved: now record them, still inside the transaction (a
   * failure or a crash from here rolls the moves back and removes the
   * records) */
  for (guint i = 0; t && r >= 0 && persist && i < persist->len; i++)
    {
      const Device *d = g_ptr_array_index (persist, i);

      if (!records_write (records, d, plan->devices, &gerror))
        r = fail (&f, d->name, -EIO, gerror->message, "recording its persistent assignment");
      else
        g_message ("Recorded %s as a persistent assignment in %s", d->name, records_dir (records));
    }

  if (t && r >= 0)
    {
      fates = g_new0 (StateFate, t->members->len);
      for (guint i = 0; i < t->members->len; i++)
        fates[i] = op == STATE_OP_DETACH ? STATE_FATE_ON_VFIO : STATE_FATE_ON_HOST;
      if (state_end (state, t, fates, &gerror))
        return 0;
      /* what is on disk says "under way": make it true for the caller too */
      r = fail (&f, ((StateOriginal *) g_ptr_array_index (t->members, 0))->device, -EIO,
                gerror->message, "recording the end of the transaction");
    }

  if (t)
    {
      g_warning ("%s failed at %s: %s; rolling back", f.device, f.step,
                 f.detail ? f.detail : g_strerror (-f.error));
      rollback (state, records, t, touched, report);
    }

  {
    g_autofree char *why =
        f.detail ? g_strdup (f.detail)
                 : g_strdup_printf ("%s (%s)", g_strerror (-f.error), errno_name (f.error));
    r = sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                           "Could not move %s: %s failed: %s. Rolled back: %s. Is the "
                           "device busy or gone? GetGroup of %s shows where things "
                           "stand; the service's log (journalctl -u vfiod) has each step",
                           f.device, f.step, why,
                           report->len ? report->str : "no device had been touched", f.device);
  }
  failure_clear (&f);
  return r;
}

/* A transaction left pending by an earlier boot: the machine has booted
 * since, so its devices are where this boot's drivers, udev rules and
 * admin put them, and the address may even hold another device.  Rolling
 * it back would unbind what the host now uses (a reattach rolled back
 * unbinds the host driver; a detach rolled back unbinds whatever is
 * there): it is ended without a single write to sysfs, and said.  Its
 * records go with it; so do the persistent assignments an unfinished
 * detach had begun to write (they were never committed: at the next boot
 * they must not bind anything). */
static void
transaction_forget (State *state, Records *records, const StateTransaction *t)
{
  g_autofree StateFate *fates = g_new0 (StateFate, t->members->len);
  g_autoptr (GString) devices = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < t->members->len; i++)
    {
      const StateOriginal *rec = g_ptr_array_index (t->members, i);
      g_autoptr (GError) gerror = NULL;

      fates[i] = STATE_FATE_ON_HOST; /* "its record goes": nothing is moved */
      g_string_append_printf (devices, "%s%s", devices->len ? ", " : "", rec->device);
      if (t->persistent && !records_remove (records, rec->device, &gerror))
        {
          g_warning ("%s", gerror->message);
          g_warning ("Transaction %" G_GUINT64_FORMAT " stays recorded: vfiod tries again at its "
                     "next start",
                     t->id);
          return;
        }
    }
  g_warning ("Transaction %" G_GUINT64_FORMAT " (%s of IOMMU group %u: %s) was under way in %s: "
             "not rolled back, nothing written to sysfs. The devices are as this boot "
             "left them: check them with 'vfioctl group %s'",
             t->id, t->op == STATE_OP_DETACH ? "detach" : "reattach", t->group, devices->str,
             t->boot ? "an earlier boot" : "a run that did not record its boot (an older vfiod)",
             ((StateOriginal *) g_ptr_array_index (t->members, 0))->device);
  if (!state_end (state, t, fates, &error))
    g_warning ("Could not record the end of transaction %" G_GUINT64_FORMAT ": %s", t->id,
               error->message);
}

/* Whether every member of @t is still the device recorded at its address
 * (@devices: the group as read now): NULL when each is, or has left the
 * machine (its restore says so and writes nothing), else what differs.
 * A member not recorded with an identity (an earlier vfiod) differs:
 * vfiod cannot tell. */
static char *
recover_replaced (const StateTransaction *t, GPtrArray *devices)
{
  g_autoptr (GString) out = g_string_new (NULL);

  for (guint i = 0; i < t->members->len; i++)
    {
      const StateOriginal *rec = g_ptr_array_index (t->members, i);
      const Device *found = NULL;
      g_autofree char *why = NULL;
      StateIdentity now = { 0 };

      for (guint j = 0; devices && j < devices->len && !found; j++)
        if (strcmp (((Device *) g_ptr_array_index (devices, j))->name, rec->device) == 0)
          found = g_ptr_array_index (devices, j);
      if (found == NULL)
        {
          PciAddress address;
          int64_t group;

          if (address_parse (rec->device, &address) &&
              sysfs_device_group (&address, &group) == -ENOENT)
            continue; /* gone: nothing to put back */
          g_string_append_printf (out, "%s%s is no longer in IOMMU group %u", out->len ? "; " : "",
                                  rec->device, t->group);
          continue;
        }
      state_identity_from_device (&now, found);
      if (!state_identity_matches (&rec->identity, &now, &why))
        g_string_append_printf (out, "%s%s is not the device recorded: %s", out->len ? "; " : "",
                                rec->device, why);
    }
  return out->len ? g_string_free (g_steal_pointer (&out), FALSE) : NULL;
}

/* What a recovery's rollback of @t would take from the host: each member
 * it would unbind from a host driver (a reattach rolled back moves the
 * device to vfio-pci again; a detach rolled back unbinds whatever is not
 * its recorded driver), when the host now uses it (mounted, swap, an up
 * interface...) or vfiod cannot tell.  NULL when nothing is.  The rollback
 * after a failed step runs within the call that checked the group; at
 * start-up the host had all the time in the world to start using it. */
static char *
recover_in_use (const StateTransaction *t, SysfsCache *cache, GPtrArray *devices)
{
  g_autoptr (GString) out = g_string_new (NULL);

  probe_mark_in_use (cache, devices, PROBE_OPENERS);
  for (guint i = 0; i < t->members->len; i++)
    {
      const StateOriginal *rec = g_ptr_array_index (t->members, i);

      for (guint j = 0; j < devices->len; j++)
        {
          const Device *d = g_ptr_array_index (devices, j);
          gboolean unbinds;

          if (strcmp (d->name, rec->device) != 0 || d->driver == NULL || d->in_use == NULL)
            continue;
          unbinds = t->op == STATE_OP_REATTACH
                        ? strcmp (d->driver, VFIOD_DRIVER_VFIO_PCI) != 0
                        : !rec->known || g_strcmp0 (d->driver, rec->driver) != 0;
          if (unbinds)
            g_string_append_printf (out, "%s%s on %s is in use (%s)", out->len ? "; " : "", d->name,
                                    d->driver, d->in_use);
        }
    }
  return out->len ? g_string_free (g_steal_pointer (&out), FALSE) : NULL;
}

/* Why recovery must not roll @t back, in the journal's words (with what
 * the admin should do), or NULL when it may.  Reads the group once, fresh
 * from sysfs: first whether each member is still the device recorded (a
 * hotplug or a card swap while vfiod was down), then whether the host
 * uses what the rollback would take. */
static char *
recover_refusal (State *state, const StateTransaction *t)
{
  g_autoptr (SysfsCache) cache = sysfs_cache_new ();
  g_autoptr (GPtrArray) devices = NULL;
  g_autofree char *unreadable = NULL, *replaced = NULL, *in_use = NULL;
  const char *first = ((StateOriginal *) g_ptr_array_index (t->members, 0))->device;
  int r = sysfs_list_group_full (cache, t->group, &devices, &unreadable);

  if (r < 0 && r != -ENOENT)
    return g_strdup_printf ("vfiod cannot tell whether its devices are the ones recorded nor "
                            "whether they are in use: reading IOMMU group %u failed (%s%s%s). "
                            "vfiod tries again at its next start",
                            t->group, unreadable ? unreadable : "", unreadable ? ": " : "",
                            g_strerror (-r));
  replaced = recover_replaced (t, r == -ENOENT ? NULL : devices);
  if (replaced)
    return g_strdup_printf (
        "%s. The machine changed while vfiod was not running (a hotplug or a card swap), so "
        "what was recorded does not apply to the device there now. Check the group with "
        "'vfioctl group %s'; if the recorded device comes back, vfiod rolls back at its next "
        "start; if the change is meant to stay, stop vfiod, delete [transaction %" G_GUINT64_FORMAT
        "] and the records of its devices from %s, and start it again",
        replaced, first, t->id, state_path (state));
  if (r == -ENOENT)
    return NULL; /* the group is gone, with every member: each restore says so */
  if (t->op == STATE_OP_DETACH)
    {
      /* a detach rolled back unbinds vfio-pci from the members it
       * reached, and the kernel's unbind waits for whoever holds a
       * device open (a cdev needs no viable group to be opened) */
      g_autofree char *holders = vfio_group_holders (t->group);
      if (holders)
        return g_strdup_printf ("IOMMU group %u is open by %s. vfiod tries again at its next "
                                "start, once it is closed",
                                t->group, holders);
    }
  in_use = recover_in_use (t, cache, devices);
  if (in_use)
    return g_strdup_printf ("%s. vfiod tries again at its next start, once the host no longer "
                            "uses it",
                            in_use);
  return NULL;
}

void
transaction_recover (State *state, Records *records)
{
  g_autoptr (GPtrArray) pending = state_list_pending (state);

  if (pending->len == 0)
    return;
  g_message ("Found %u transaction(s) left under way by an earlier run", pending->len);
  /* newest transaction first, each newest step first */
  for (guint i = pending->len; i-- > 0;)
    {
      const StateTransaction *t = g_ptr_array_index (pending, i);
      g_autoptr (GString) report = g_string_new (NULL);

      g_autofree char *refusal = NULL;

      if (!state_is_this_boot (state, t->boot))
        {
          transaction_forget (state, records, t);
          continue;
        }
      refusal = recover_refusal (state, t);
      if (refusal)
        {
          g_warning ("Not rolling back the %s of IOMMU group %u (transaction %" G_GUINT64_FORMAT
                     "): nothing was written to sysfs and the transaction stays recorded (the "
                     "group answers GroupBusy meanwhile): %s",
                     t->op == STATE_OP_DETACH ? "detach" : "reattach", t->group, t->id, refusal);
          continue;
        }

      for (guint j = t->members->len; j-- > 0;)
        g_message ("Rolling back the %s of %s", t->op == STATE_OP_DETACH ? "detach" : "reattach",
                   ((StateOriginal *) g_ptr_array_index (t->members, j))->device);
      rollback (state, records, t, t->members->len, report);
      g_message ("Recovery of transaction %" G_GUINT64_FORMAT " (IOMMU group %u): %s", t->id,
                 t->group, report->str);
    }
}
