/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The call engine: every Manager method, from its arguments to its reply
 * (see manager-private.h for the stages and the threads). */
#include <errno.h>
#include <malloc.h>
#include <string.h>

#include "errors.h"
#include "manager-private.h"
#include "names.h"
#include "sysfs.h"
#include "util.h"

void
engine_assert_main_thread (void)
{
  /* nothing that touches sd-bus may run off the main thread: the bus's
   * reference count is not atomic */
  g_assert (g_main_context_is_owner (g_main_context_default ()));
}

/* ---- the parts of a parse -------------------------------------------- */

int
engine_set_target (Call *call, const char *text, sd_bus_error *error)
{
  if (!address_parse (text, &call->target))
    return errors_invalid_address (error, text);
  address_format (&call->target, call->name);
  call->has_target = TRUE;
  return 0;
}

int
engine_read_caller (Call *call, sd_bus_message *m, sd_bus_error *error)
{
  _cleanup_ (sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
  int r = sd_bus_query_sender_creds (m, SD_BUS_CREDS_EUID, &creds);

  if (r >= 0)
    r = sd_bus_creds_get_euid (creds, &call->uid);
  if (r < 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                              "Cannot tell who is calling (%s): refused", g_strerror (-r));
  return 0;
}

void
engine_detail (Call *call, guint i, const char *key, char *value)
{
  g_assert (2 * i + 1 < G_N_ELEMENTS (call->details) - 1);
  g_free (call->details[2 * i]);
  g_free (call->details[2 * i + 1]);
  call->details[2 * i] = g_strdup (key);
  call->details[2 * i + 1] = value;
}

int
engine_read_group (Call *call)
{
  int64_t group;
  int r = sysfs_device_group (&call->target, &group);

  if (r < 0)
    return errors_from_sysfs (&call->error, call->name, r);
  if (group == DEVICE_NO_GROUP)
    return errors_no_group (&call->error, call->name);
  call->group = (uint32_t) group;
  return 0;
}

/* ---- group locks ------------------------------------------------------- */

static void
group_lock_free (gpointer data)
{
  g_mutex_clear (data);
  g_free (data);
}

GMutex *
engine_group_lock (Manager *self, uint32_t group)
{
  GMutex *lock;

  g_mutex_lock (&self->locks_lock);
  if (self->group_locks == NULL)
    self->group_locks = g_hash_table_new_full (NULL, NULL, NULL, group_lock_free);
  lock = g_hash_table_lookup (self->group_locks, GUINT_TO_POINTER (group));
  if (lock == NULL)
    {
      lock = g_new0 (GMutex, 1);
      g_mutex_init (lock);
      g_hash_table_insert (self->group_locks, GUINT_TO_POINTER (group), lock);
    }
  g_mutex_unlock (&self->locks_lock);
  return lock;
}

gboolean
engine_call_abandoned (Call *call)
{
  return call->progress && transaction_progress_abandoned (call->progress);
}

/* ---- a call's life ----------------------------------------------------- */

static void
call_stop_authorizing (Call *call)
{
  Manager *self = call->manager;
  guint n;

  if (call->sender == NULL)
    return;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->authorizing, call->sender));
  if (n <= 1)
    g_hash_table_remove (self->authorizing, call->sender);
  else
    g_hash_table_insert (self->authorizing, g_strdup (call->sender), GUINT_TO_POINTER (n - 1));
  g_clear_pointer (&call->sender, g_free);
  g_ptr_array_remove_fast (self->waiting, call);
}

static void
call_free (Call *call)
{
  engine_assert_main_thread ();
  call_stop_authorizing (call);
  sd_bus_track_unref (call->caller);
  g_clear_object (&call->cancel);
  if (call->watchdog)
    g_source_remove (call->watchdog);
  transaction_progress_free (call->progress);
  g_clear_pointer (&call->view, view_free);
  sd_bus_message_unref (call->message);
  if (call->data && call->spec->free)
    call->spec->free (call->data);
  for (gsize i = 0; i < G_N_ELEMENTS (call->details); i++)
    g_free (call->details[i]);
  g_free (call->what);
  sd_bus_error_free (&call->error);
  g_free (call);
}

/* What the log and the errors call it before authorize named it. */
static const char *
call_what (Call *call)
{
  return call->what ? call->what : call->spec->method.x.method.member;
}

/* Answers the caller: @error when set, else the success reply. */
static void
call_reply (Call *call, const sd_bus_error *error)
{
  _cleanup_ (sd_bus_message_unrefp) sd_bus_message *reply = NULL;
  int r;

  if (sd_bus_error_is_set (error))
    r = sd_bus_reply_method_error (call->message, error);
  else
    {
      r = sd_bus_message_new_method_return (call->message, &reply);
      if (r >= 0 && call->spec->reply)
        r = call->spec->reply (call, reply);
      if (r >= 0)
        r = sd_bus_send (NULL, reply, NULL);
      if (r < 0)
        r = sd_bus_reply_method_errno (call->message, r, NULL);
    }
  if (r < 0)
    g_warning ("Cannot reply to %s: %s", call_what (call), g_strerror (-r));
}

/* Answers @call with @error (cleared) and frees it. */
static void
call_refuse (Call *call, sd_bus_error *error)
{
  call_reply (call, error);
  sd_bus_error_free (error);
  call_free (call);
}

/* ---- the watchdog and early answers --------------------------------------- */

/* "IOMMU group 5 is busy: unbinding 0000:00:14.0 from xhci_hcd has not
 * returned for 42 s" (for @stuck, the call whose write does not return). */
static char *
stuck_describe (Call *stuck)
{
  gint64 since = 0;
  g_autofree char *current = transaction_progress_current (stuck->progress, &since);

  return g_strdup_printf ("IOMMU group %u is busy: %s has not returned for %" G_GINT64_FORMAT
                          " s (the driver seems stuck; journalctl -k shows its messages)",
                          stuck->group, current ? current : "a write to sysfs",
                          (g_get_monotonic_time () - since) / G_USEC_PER_SEC);
}

static int
error_group_busy (sd_bus_error *error, Call *stuck, const char *what)
{
  g_autofree char *busy = stuck_describe (stuck);

  return sd_bus_error_setf (error, VFIOD_ERROR_GROUP_BUSY,
                            "Cannot %s: %s. Nothing was done; try again once it has returned", what,
                            busy);
}

/* The call whose write into @call's group does not return, if any. */
static Call *
call_stuck_behind (Call *call)
{
  if (!(call->spec->flags & METHOD_GROUP))
    return NULL;
  return g_hash_table_lookup (call->manager->stuck, GUINT_TO_POINTER (call->group));
}

/* Answers @call's caller now and lets its worker end on its own. */
static void
call_answer_early (Call *call, sd_bus_error *error)
{
  Manager *self = call->manager;

  transaction_progress_abandon (call->progress);
  call_reply (call, error);
  sd_bus_error_free (error);
  call->answered = TRUE;
  self->working--;
  self->abandoned++;
}

/* Bounded waiting: a sysfs write that has not returned after
 * write_timeout_ms (a driver stuck in its remove) is reported to the
 * caller, naming the device and driver; the group stays locked (the write
 * cannot be taken back) and busy for everybody else, and once the write
 * returns the worker rolls back what it did.  Calls queued behind it on
 * the group's lock are answered too.  Runs only while the call does. */
static gboolean
call_watchdog (gpointer user_data)
{
  Call *call = user_data;
  Manager *self = call->manager;
  gint64 limit = (gint64) self->write_timeout_ms * 1000;
  gint64 now = g_get_monotonic_time (), since = 0;
  g_autofree char *current = transaction_progress_current (call->progress, &since);
  Call *stuck = call_stuck_behind (call);
  sd_bus_error error = SD_BUS_ERROR_NULL;

  call->watchdog = 0;
  if (current != NULL && now - since >= limit)
    {
      g_warning ("%s has not returned after %" G_GINT64_FORMAT " s: answering the caller of %s; "
                 "IOMMU group %u stays busy until it returns",
                 current, (now - since) / G_USEC_PER_SEC, call->what, call->group);
      sd_bus_error_setf (&error, VFIOD_ERROR_TIMED_OUT,
                         "Cannot %s: %s has not returned after %" G_GINT64_FORMAT " s (the "
                         "driver seems stuck removing the device; journalctl -k shows its "
                         "messages). Nothing more will be done: once the write returns, vfiod "
                         "puts back every device of IOMMU group %u it moved (or does so at its "
                         "next start), and until then the group is busy",
                         call->what, current, (now - since) / G_USEC_PER_SEC, call->group);
      call_answer_early (call, &error);
      g_hash_table_insert (self->stuck, GUINT_TO_POINTER (call->group), call);

      /* calls waiting for the group's lock behind it would wait as long */
      for (guint i = 0; i < self->running->len; i++)
        {
          Call *other = g_ptr_array_index (self->running, i);
          g_autofree char *writing = NULL;

          if (other == call || !(other->spec->flags & METHOD_GROUP) ||
              other->group != call->group || other->answered)
            continue;
          writing = transaction_progress_current (other->progress, NULL);
          if (writing)
            continue;
          error_group_busy (&error, call, other->what);
          call_answer_early (other, &error);
        }
      return G_SOURCE_REMOVE;
    }
  if (current == NULL && stuck != NULL && stuck != call && !call->answered)
    {
      error_group_busy (&error, stuck, call->what);
      call_answer_early (call, &error);
      return G_SOURCE_REMOVE;
    }
  if (call->answered)
    return G_SOURCE_REMOVE;

  /* look again when the write under way would be late */
  call->watchdog = g_timeout_add (current ? (guint) ((limit - (now - since)) / 1000) + 1
                                          : self->write_timeout_ms,
                                  call_watchdog, call);
  return G_SOURCE_REMOVE;
}

/* ---- working ------------------------------------------------------------- */

/* A worker: the method's work, under its group's lock when it has one. */
static void
call_work (gpointer data)
{
  Call *call = data;
  GMutex *lock = NULL;

  if (call->spec->flags & METHOD_GROUP)
    {
      lock = engine_group_lock (call->manager, call->group);
      g_mutex_lock (lock);
    }
  /* answered while it waited for the lock (the group is stuck): nothing to do */
  if (!engine_call_abandoned (call))
    call->spec->work (call);
  if (lock)
    g_mutex_unlock (lock);
}

/* Back on the main thread: the worker is done with @call. */
static void
call_worked (gpointer data)
{
  Call *call = data;
  Manager *self = call->manager;

  g_ptr_array_remove_fast (self->running, call);
  if (call->spec->finish)
    call->spec->finish (call);
  if ((call->spec->flags & METHOD_GROUP) &&
      g_hash_table_lookup (self->stuck, GUINT_TO_POINTER (call->group)) == call)
    {
      g_hash_table_remove (self->stuck, GUINT_TO_POINTER (call->group));
      g_message ("IOMMU group %u is no longer busy: the stuck write of the %s returned",
                 call->group, call->what);
    }

  if (call->answered)
    {
      /* its caller was told long ago; only the log hears how it ended */
      if (sd_bus_error_is_set (&call->error))
        g_message ("The %s answered early has ended: %s", call->what, call->error.message);
      else
        g_message ("The %s answered early has ended with nothing done", call->what);
      self->abandoned--;
      call_free (call);
      return;
    }
  call_reply (call, &call->error);
  self->working--;
  call_free (call);
}

static void
call_start_work (Call *call)
{
  Manager *self = call->manager;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  Call *stuck = call_stuck_behind (call);

  if (stuck)
    {
      /* it got stuck while this one waited for polkit */
      error_group_busy (&error, stuck, call->what);
      call_refuse (call, &error);
      return;
    }
  self->working++;
  call->progress = transaction_progress_new ();
  g_ptr_array_add (self->running, call);
  /* only transactions write to sysfs, where a write may never return */
  if (call->spec->flags & METHOD_WATCHDOG)
    call->watchdog = g_timeout_add (self->write_timeout_ms, call_watchdog, call);
  offload_push (self->workers, call_work, call_worked, call);
}

/* ---- authorizing ------------------------------------------------------------ */

static void call_authorize_next (Call *call);

static void
on_authorized (gboolean allowed, const sd_bus_error *error, gpointer user_data)
{
  Call *call = user_data;
  sd_bus_error refusal = SD_BUS_ERROR_NULL;

  if (call->caller_gone)
    {
      /* nobody is waiting for the answer: whatever polkit said, do nothing */
      g_message ("Dropped the request to %s: its caller left while it was being authorized",
                 call->what);
      call_free (call);
      return;
    }
  if (call->manager->quitting)
    {
      errors_shutting_down (&refusal, call->what);
      call_refuse (call, &refusal);
      return;
    }
  if (!allowed)
    {
      g_message ("Refused to %s: %s", call->what, error->message);
      sd_bus_error_copy (&refusal, error);
      call_refuse (call, &refusal);
      return;
    }
  call_authorize_next (call);
}

/* Asks polkit for each action in turn; then hands the call to a worker. */
static void
call_authorize_next (Call *call)
{
  for (gsize i = 0; i < G_N_ELEMENTS (call->actions); i++)
    {
      const char *action = call->actions[i];
      if (action)
        {
          call->actions[i] = NULL;
          authz_check_async (call->manager->authz, call->message, action,
                             (const char *const *) call->details, call->what, call->cancel,
                             on_authorized, call);
          return;
        }
    }
  call_stop_authorizing (call);
  g_clear_pointer (&call->caller, sd_bus_track_unref);
  call_start_work (call);
}

static int
on_caller_gone (sd_bus_track *track, void *userdata)
{
  Call *call = userdata;

  g_message ("The caller of %s left the bus: withdrawing the authorization check", call->what);
  call->caller_gone = TRUE;
  g_cancellable_cancel (call->cancel);
  return 0;
}

/* Counts @call as waiting for polkit for its sender, and watches the
 * sender: 0, or <0 with @error set when the sender has too many waiting. */
static int
call_start_authorizing (Call *call, sd_bus_error *error)
{
  Manager *self = call->manager;
  const char *sender = sd_bus_message_get_sender (call->message);
  guint n;
  int r;

  if (sender == NULL)
    return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                              "Cannot %s: the caller cannot be identified on the bus", call->what);
  n = GPOINTER_TO_UINT (g_hash_table_lookup (self->authorizing, sender));
  if (n >= VFIOD_MAX_PENDING_AUTHORIZATIONS)
    return sd_bus_error_setf (error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                              "Cannot %s: %u requests of this caller (%s) are already waiting "
                              "for authorization. Answer or cancel those first",
                              call->what, n, sender);

  r = sd_bus_track_new (sd_bus_message_get_bus (call->message), &call->caller, on_caller_gone,
                        call);
  if (r >= 0)
    r = sd_bus_track_add_sender (call->caller, call->message);
  if (r < 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                              "Cannot %s: cannot watch the caller on the bus (%s)", call->what,
                              g_strerror (-r));

  call->sender = g_strdup (sender);
  g_hash_table_insert (self->authorizing, g_strdup (sender), GUINT_TO_POINTER (n + 1));
  g_ptr_array_add (self->waiting, call);
  return 0;
}

/* ---- preparing ---------------------------------------------------------------- */

static void
call_prepare (gpointer data)
{
  Call *call = data;

  call->spec->prepare (call);
}

/* Main thread, after a reader prepared @call: answers it when refused or
 * settled, else names it and asks polkit. */
static void
call_prepared (gpointer data)
{
  Call *call = data;
  Manager *self = call->manager;
  gboolean large = (call->spec->flags & METHOD_LARGE) != 0;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  Call *stuck;

  if (sd_bus_error_is_set (&call->error) || call->settled || call->spec->authorize == NULL)
    {
      call_reply (call, &call->error);
      call_free (call);
      /* a reading of the whole machine and its reply are megabytes the
       * allocator would otherwise keep: an idle daemon should be small */
      if (large)
        malloc_trim (0);
      return;
    }

  call->spec->authorize (call);
  if (sd_bus_error_is_set (&call->error))
    {
      call_reply (call, &call->error);
      call_free (call);
      return;
    }
  g_assert (call->what != NULL);
  if (self->quitting)
    {
      errors_shutting_down (&error, call->what);
      call_refuse (call, &error);
      return;
    }
  stuck = call_stuck_behind (call);
  if (stuck)
    {
      error_group_busy (&error, stuck, call->what);
      call_refuse (call, &error);
      return;
    }
  if (call_start_authorizing (call, &error) < 0)
    {
      call_refuse (call, &error);
      return;
    }
  call_authorize_next (call);
}

/* ---- the entry -------------------------------------------------------------- */

static void
call_start_prepare (Call *call)
{
  if (call->spec->prepare)
    offload_push (call->manager->readers, call_prepare, call_prepared, call);
  else
    call_prepared (call);
}

/* A METHOD_VIEW call, once the objects are current or cannot be made so. */
static void
call_on_current (gboolean current, gpointer user_data)
{
  Call *call = user_data;

  call->manager->viewing--;
  if (current)
    {
      call->view = model_ref_view (call->manager->model);
      if (call->spec->from_view && call->spec->from_view (call))
        {
          call_prepared (call);
          return;
        }
      /* without from_view, prepare reads from the view */
      if (call->spec->from_view)
        g_clear_pointer (&call->view, view_free);
    }
  call_start_prepare (call);
}

static const MethodSpec *
find_spec (const char *member)
{
  const MethodSpec *families[] = { manager_reads, manager_changes, manager_uses };

  for (gsize f = 0; f < G_N_ELEMENTS (families); f++)
    for (const MethodSpec *s = families[f]; s->method.type != _SD_BUS_VTABLE_END; s++)
      if (strcmp (s->method.x.method.member, member) == 0)
        return s;
  return NULL;
}

int
engine_method (sd_bus_message *m, void *userdata, sd_bus_error *error)
{
  Manager *self = userdata;
  const MethodSpec *spec = find_spec (sd_bus_message_get_member (m));
  Call *call;
  int r;

  engine_assert_main_thread ();
  g_assert (spec != NULL);
  call = g_new0 (Call, 1);
  call->manager = self;
  call->spec = spec;
  call->message = sd_bus_message_ref (m);
  call->error = SD_BUS_ERROR_NULL;
  call->cancel = g_cancellable_new ();
  r = spec->parse ? spec->parse (call, m, error) : 0;
  if (r < 0)
    {
      call_free (call);
      return r;
    }
  /* stopping: the model closes soon, and a read of the machine is as good */
  if ((spec->flags & METHOD_VIEW) && !self->quitting)
    {
      self->viewing++;
      /* current now, with every source's news polled: no main loop turn */
      if (model_is_current (self->model))
        call_on_current (TRUE, call);
      else
        model_when_current (self->model, call_on_current, call);
    }
  else
    call_start_prepare (call);
  return 1;
}

void
engine_add_methods (GArray *vtable, const MethodSpec *specs)
{
  for (const MethodSpec *s = specs; s->method.type != _SD_BUS_VTABLE_END; s++)
    g_array_append_val (vtable, s->method);
}
