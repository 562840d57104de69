/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Using a detached group without root: OpenGroup, OpenDevice,
 * GrantAccess, RevokeAccess (use.c does the work, access.c the ACLs),
 * SetLockedMemoryLimit; and the grants kept in order with the machine. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "bootid.h"
#include "errors.h"
#include "manager-private.h"
#include "names.h"
#include "use.h"
#include "util.h"

typedef enum {
  USE_OPEN_GROUP,
  USE_OPEN_DEVICE,
  USE_GRANT,
  USE_REVOKE,
} UseKind;

typedef struct {
  UseKind kind;
  gboolean has_owner;   /* the group has an owner (use_group_owner()) ... */
  uid_t owner;          /* ... who detached it */
  gboolean other_asked; /* use-device-other was among the actions checked */
  int fd;               /* open-group/device: to pass on; -1 otherwise */
  GPtrArray *nodes;     /* grant/revoke: Grant* done */
} Use;

static void
use_data_free (gpointer data)
{
  Use *u = data;

  if (u->fd >= 0)
    close (u->fd);
  if (u->nodes)
    g_ptr_array_unref (u->nodes);
  g_free (u);
}

/* Whether the caller uses another's group: it is not root and not the
 * group's owner (a group nobody owns is another's). */
static gboolean
uses_other (const Call *call, const Use *u)
{
  return call->uid != 0 && (!u->has_owner || u->owner != call->uid);
}

/* Checks the arguments and the caller here; the group is read on a
 * reader (use_prepare), and the answer or polkit comes after it. */
static int
use_parse (Call *call, sd_bus_message *m, UseKind kind, sd_bus_error *error)
{
  Use *u = g_new0 (Use, 1);
  const char *text;
  uint64_t flags;
  int r;

  u->kind = kind;
  u->fd = -1;
  call->data = u;
  r = sd_bus_message_read (m, "st", &text, &flags);
  if (r < 0)
    return r;
  if (flags != 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "Unknown flags 0x%" PRIx64 ": %s takes none (0)", flags,
                              call->spec->method.x.method.member);
  r = engine_set_target (call, text, error);
  if (r >= 0)
    r = engine_read_caller (call, m, error);
  return r;
}

#define USE_PARSE(fn, kind)                                          \
  static int fn (Call *call, sd_bus_message *m, sd_bus_error *error) \
  {                                                                  \
    return use_parse (call, m, kind, error);                         \
  }
USE_PARSE (open_group_parse, USE_OPEN_GROUP)
USE_PARSE (open_device_parse, USE_OPEN_DEVICE)
USE_PARSE (grant_parse, USE_GRANT)
USE_PARSE (revoke_parse, USE_REVOKE)
#undef USE_PARSE

/* Reader: what cannot work is refused before anybody is asked for a
 * password (and checked again once authorized). */
static void
use_prepare (Call *call)
{
  Manager *self = call->manager;
  Use *u = call->data;
  g_autoptr (GPtrArray) members = NULL;
  g_autofree char *unreadable = NULL;
  int r;

  if (engine_read_group (call) < 0)
    return;

  if (u->kind == USE_REVOKE)
    {
      g_autoptr (GPtrArray) held = grants_list (self->grants, call->group);
      gboolean any = FALSE;

      for (guint i = 0; i < held->len; i++)
        any = any || call->uid == 0 || ((Grant *) g_ptr_array_index (held, i))->uid == call->uid;
      /* nothing to take back: nothing to authorize */
      call->settled = !any;
      if (call->settled)
        u->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) grant_free);
      return;
    }

  r = model_read_group (self->model, call->group, &members, &unreadable);
  if (r < 0)
    r = errors_from_sysfs (&call->error, unreadable ? unreadable : call->name, r);
  else
    r = use_check (members, call->name, call->group, &call->error);
  if (r >= 0)
    {
      g_autoptr (GHashTable) owners = state_owners (self->state);
      u->has_owner = use_group_owner (members, owners, &u->owner);
    }
  if (r >= 0 && u->kind == USE_OPEN_DEVICE)
    {
      g_autofree char *cdev = access_device_cdev (call->name);
      if (cdev == NULL)
        use_open_device (call->name, &u->fd, &call->error); /* says NotSupported */
    }
}

/* Main thread: what polkit is asked. */
static void
use_authorize (Call *call)
{
  Use *u = call->data;

  call->what = g_strdup_printf ("%s %s (IOMMU group %u)",
                                u->kind == USE_OPEN_GROUP    ? "open the IOMMU group of"
                                : u->kind == USE_OPEN_DEVICE ? "open the VFIO device of"
                                : u->kind == USE_GRANT       ? "grant access to"
                                                             : "revoke access to",
                                call->name, call->group);
  engine_detail (call, 0, VFIOD_DETAIL_DEVICE, g_strdup (call->name));
  engine_detail (call, 1, VFIOD_DETAIL_GROUP, g_strdup_printf ("%u", call->group));
  engine_detail (call, 2, VFIOD_DETAIL_UID, g_strdup_printf ("%u", (unsigned) call->uid));
  call->actions[0] = VFIOD_ACTION_USE_DEVICE;
  /* taking back one's own grants needs no more; using a group another
   * user detached (or nobody vfiod knows of) needs the stronger action */
  if (u->kind != USE_REVOKE)
    {
      engine_detail (call, 3, VFIOD_DETAIL_OWNER_UID,
                     u->has_owner ? g_strdup_printf ("%u", (unsigned) u->owner)
                                  : g_strdup (VFIOD_OWNER_NONE));
      if (uses_other (call, u))
        {
          call->actions[1] = VFIOD_ACTION_USE_DEVICE_OTHER;
          u->other_asked = TRUE;
        }
    }
}

/* The worker, under the group's lock: check again (things may have moved
 * while polkit asked), then act. */
static void
use_work (Call *call)
{
  Manager *self = call->manager;
  Use *u = call->data;
  g_autoptr (GPtrArray) members = NULL;
  g_autoptr (GHashTable) owners = NULL;
  g_autofree char *unreadable = NULL;
  int r;

  if (u->kind == USE_REVOKE)
    {
      /* root takes back everybody's; a user only their own */
      use_revoke (self->grants, call->group, call->uid == 0 ? (uid_t) -1 : call->uid, call->what,
                  &u->nodes, &call->error);
      return;
    }

  r = model_read_group (self->model, call->group, &members, &unreadable);
  if (r < 0)
    {
      errors_from_sysfs (&call->error, unreadable ? unreadable : call->name, r);
      return;
    }
  if (use_check (members, call->name, call->group, &call->error) < 0)
    return;
  /* the owner may have changed while polkit asked (reattached, then
   * detached by another user) */
  owners = state_owners (self->state);
  u->has_owner = use_group_owner (members, owners, &u->owner);
  if (uses_other (call, u) && !u->other_asked)
    {
      sd_bus_error_setf (
          &call->error, SD_BUS_ERROR_ACCESS_DENIED,
          "Cannot %s: IOMMU group %u was detached by %s while this was being "
          "authorized, so using it now needs " VFIOD_ACTION_USE_DEVICE_OTHER "; nothing was done",
          call->what, call->group, u->has_owner ? "another user" : "somebody vfiod does not know");
      return;
    }
  switch (u->kind)
    {
    case USE_OPEN_GROUP: use_open_group (call->group, call->name, &u->fd, &call->error); break;
    case USE_OPEN_DEVICE: use_open_device (call->name, &u->fd, &call->error); break;
    case USE_GRANT:
      use_grant (self->grants, members, call->group, call->uid, call->name, &u->nodes,
                 &call->error);
      break;
    case USE_REVOKE: g_assert_not_reached ();
    }
}

static int
open_group_reply (Call *call, sd_bus_message *m)
{
  /* 'h' duplicates it into the message; ours is closed with the call */
  return sd_bus_message_append (m, "uh", call->group, ((Use *) call->data)->fd);
}

static int
open_device_reply (Call *call, sd_bus_message *m)
{
  return sd_bus_message_append (m, "h", ((Use *) call->data)->fd);
}

static int
nodes_reply (Call *call, sd_bus_message *m)
{
  GPtrArray *nodes = ((Use *) call->data)->nodes;
  int r = sd_bus_message_open_container (m, 'a', "a{sv}");

  for (guint i = 0; r >= 0 && nodes && i < nodes->len; i++)
    {
      const Grant *g = g_ptr_array_index (nodes, i);
      r = sd_bus_message_append (m, "a{sv}", 2, VFIOD_KEY_PATH, "s", g->path, VFIOD_KEY_UID, "u",
                                 (uint32_t) g->uid);
    }
  if (r < 0)
    return r;
  return sd_bus_message_close_container (m);
}

/* ---- SetLockedMemoryLimit ------------------------------------------------- */

typedef struct {
  int pidfd;      /* our duplicate */
  pid_t pid;      /* the pidfd's process */
  uint64_t bytes; /* the limit asked for */
} LockMemory;

static void
lock_memory_free (gpointer data)
{
  LockMemory *l = data;

  if (l->pidfd >= 0)
    close (l->pidfd);
  g_free (l);
}

static uint64_t
physical_memory (void)
{
  long pages = sysconf (_SC_PHYS_PAGES), size = sysconf (_SC_PAGESIZE);

  return pages > 0 && size > 0 ? (uint64_t) pages * (uint64_t) size : 0;
}

uint64_t
manager_physical_memory (void)
{
  return physical_memory ();
}

/* All of it is checked here, on the main thread: a pidfd and a few
 * /proc reads of the caller's own process. */
static int
lock_memory_parse (Call *call, sd_bus_message *m, sd_bus_error *error)
{
  Manager *self = call->manager;
  LockMemory *l = g_new0 (LockMemory, 1);
  uint64_t memory = physical_memory ();
  g_autofree char *size = NULL, *total = NULL;
  uid_t uids[4];
  int fd, r;

  l->pidfd = -1;
  call->data = l;
  r = sd_bus_message_read (m, "ht", &fd, &l->bytes);
  if (r < 0)
    return r;
  size = access_format_size (l->bytes);
  total = access_format_size (memory);
  if (l->bytes == 0)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "A locked-memory limit of 0 bytes locks nothing: give the limit in "
                              "bytes, at least the guest's memory (e.g. 8589934592 for 8 GiB)");
  if (memory > 0 && l->bytes > memory)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "%" PRIu64 " bytes (%s) is more than this machine's memory (%s): "
                              "give at most the guest's memory plus a little",
                              l->bytes, size, total);
  if (l->bytes > self->settings.max_locked_memory)
    {
      g_autofree char *cap = access_format_size (self->settings.max_locked_memory);
      return sd_bus_error_setf (
          error, SD_BUS_ERROR_LIMITS_EXCEEDED,
          "%" PRIu64 " bytes (%s) is more than vfiod lets one process lock: %" PRIu64
          " bytes (%s, %s). Nothing was changed. Give a smaller guest, or raise the cap "
          "with " VFIOD_CONFIG_MAX_LOCKED_MEMORY "= in [" VFIOD_CONFIG_GROUP_LIMITS "] of %s "
          "and restart vfiod",
          l->bytes, size, self->settings.max_locked_memory, cap,
          self->settings.max_locked_memory_default ? "the default: the machine's memory less a "
                                                     "reserve for the host"
                                                   : "as configured",
          settings_default_path ());
    }

  r = engine_read_caller (call, m, error);
  if (r < 0)
    return r;
  /* ours: the message's goes with the message */
  l->pidfd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  r = l->pidfd < 0 ? -errno : access_pidfd_process (l->pidfd, &l->pid, uids);
  if (r == -EBADF || r == -EBADMSG)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "The file descriptor passed is not a pidfd: pass one of the "
                              "process whose limit should rise (pidfd_open(2))");
  if (r == -ESRCH)
    return sd_bus_error_setf (error, SD_BUS_ERROR_INVALID_ARGS,
                              "The process of the pidfd passed has exited: nothing to raise");
  if (r < 0)
    return sd_bus_error_setf (error, VFIOD_ERROR_FAILED,
                              "Cannot look at the process of the pidfd "
                              "passed: %s",
                              g_strerror (-r));
  for (int i = 0; i < 4; i++)
    if (uids[i] != call->uid)
      return sd_bus_error_setf (error, SD_BUS_ERROR_ACCESS_DENIED,
                                "Process %d runs as uid %u, not as the caller (uid %u): vfiod "
                                "raises the locked-memory limit of the caller's own processes "
                                "only",
                                (int) l->pid, (unsigned) uids[i], (unsigned) call->uid);
  return 0;
}

static void
lock_memory_authorize (Call *call)
{
  LockMemory *l = call->data;
  g_autofree char *size = access_format_size (l->bytes);

  call->what =
      g_strdup_printf ("raise the locked-memory limit of process %d to %s", (int) l->pid, size);
  engine_detail (call, 0, VFIOD_DETAIL_PID, g_strdup_printf ("%d", (int) l->pid));
  engine_detail (call, 1, VFIOD_DETAIL_BYTES, g_strdup_printf ("%" PRIu64, l->bytes));
  engine_detail (call, 2, VFIOD_DETAIL_SIZE, access_format_size (l->bytes));
  engine_detail (call, 3, VFIOD_DETAIL_UID, g_strdup_printf ("%u", (unsigned) call->uid));
  call->actions[0] = VFIOD_ACTION_LOCK_MEMORY;
}

/* A process, not a group: no group's lock to take. */
static void
lock_memory_work (Call *call)
{
  LockMemory *l = call->data;
  uint64_t before = 0, after = 0;
  g_autofree char *size = access_format_size (l->bytes);
  int r = access_raise_memlock (l->pidfd, l->pid, l->bytes, &before, &after);

  if (r == -ESRCH)
    sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                       "Process %d exited before its locked-memory limit was raised: nothing "
                       "to do; start it again",
                       (int) l->pid);
  else if (r < 0)
    sd_bus_error_setf (&call->error, VFIOD_ERROR_FAILED,
                       "Cannot raise the locked-memory limit of process %d to %s: %s", (int) l->pid,
                       size, g_strerror (-r));
  else
    g_message ("Locked-memory limit of process %d (uid %u): %" G_GUINT64_FORMAT
               " -> %" G_GUINT64_FORMAT " bytes",
               (int) l->pid, (unsigned) call->uid, before, after);
}

/* ---- the grants, kept in order ------------------------------------------- */

typedef enum {
  GRANT_KEEP,      /* nothing to do (yet) */
  GRANT_FORGOTTEN, /* its record is gone, no ACL touched */
  GRANT_REAPPLY,   /* its entry is to be added again */
  GRANT_REVOKE,    /* to be taken back */
} GrantVerdict;

static void
array_unref_maybe (gpointer array)
{
  if (array)
    g_ptr_array_unref (array);
}

/* At start: a grant is given again only when it is of this boot, its
 * node is one the group has now, and the group's members now are the
 * devices it was granted on.  @read caches each group's [members, nodes].
 * Reads sysfs (the group, its members' cdevs): at start only, before the
 * main loop runs, as model_load() does. */
static GrantVerdict
reconcile_grant_at_start (Manager *self, const Grant *g, const char *boot_id, GHashTable *read)
{
  GPtrArray *pair, *members, *nodes;
  g_autofree char *why = NULL;

  if (!grant_of_boot (g, boot_id))
    {
      /* the numbers of another boot name nothing of this one: the old
       * node went with that boot, and the same path may be another
       * device's now */
      use_forget_stale (self->grants, g,
                        g->boot_id ? "granted in another boot"
                                   : "recorded without a boot id, by an older vfiod");
      return GRANT_FORGOTTEN;
    }
  pair = g_hash_table_lookup (read, GUINT_TO_POINTER (g->group));
  if (pair == NULL)
    {
      GPtrArray *m = NULL, *n = NULL;
      int r = use_current_nodes (g->group, &m, &n);

      if (r < 0)
        g_warning ("Cannot read IOMMU group %u to check its grants: %s; none is given again",
                   g->group, g_strerror (-r));
      pair = g_ptr_array_new_with_free_func (array_unref_maybe);
      g_ptr_array_add (pair, r < 0 ? NULL : m);
      g_ptr_array_add (pair, r < 0 ? NULL : n);
      g_hash_table_insert (read, GUINT_TO_POINTER (g->group), pair);
    }
  members = g_ptr_array_index (pair, 0);
  nodes = g_ptr_array_index (pair, 1);
  if (nodes == NULL)
    return GRANT_KEEP; /* unreadable: the record stays, for a later revoke */
  if (!use_nodes_have (nodes, g->path))
    {
      use_forget_stale (self->grants, g, "not a node of the group's members now");
      return GRANT_FORGOTTEN;
    }
  if (g->revoking || !model_group_usable (self->model, g->group))
    return GRANT_REVOKE;
  if (!grant_members_match (g, members, &why))
    {
      g_message ("IOMMU group %u is not what uid %u was granted (%s): not giving %s back", g->group,
                 (unsigned) g->uid, why, g->path);
      return GRANT_REVOKE;
    }
  return GRANT_REAPPLY;
}

/* Puts the grants in order with the machine as the objects show it now:
 * takes back every grant whose group a virtual machine can no longer use
 * (reattached by anybody, hot removed, a member back on a host driver)
 * and finishes every revoke a crash interrupted.  At start (@reapply),
 * first forgets the grants of another boot (touching nothing: their
 * numbers name other nodes now) and those of nodes the group does not
 * have now, takes back those of a group whose members are not the
 * devices granted, and adds again the entries of the grants that hold
 * (a crash after a grant was recorded may have come before its entry was
 * added).  Taking back acts only on the nodes the group has now
 * (use_revoke), and a user's grants on a group are taken back whole
 * before any is given again.  Main thread: the ACL changes are a few
 * setxattr() calls on device nodes, which do not block. */
void
manager_reconcile_grants (Manager *self, gboolean reapply)
{
  g_autoptr (GPtrArray) all = grants_list (self->grants, -1);
  g_autoptr (GPtrArray) again = g_ptr_array_new ();
  /* "group:uid" to take back, "group:all" for everybody's, in order */
  g_autoptr (GHashTable) revoke = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) revoke_order = g_ptr_array_new ();
  g_autoptr (GHashTable) read =
      g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) g_ptr_array_unref);
  const char *boot_id = boot_id_current ();

  if (reapply && all->len > 0 && boot_id == NULL)
    g_warning ("Cannot tell whether the grants recorded are of this boot: none is given again");

  for (guint i = 0; i < all->len; i++)
    {
      const Grant *g = g_ptr_array_index (all, i);
      gboolean usable = model_group_usable (self->model, g->group);
      GrantVerdict verdict;

      if (reapply && boot_id != NULL)
        verdict = reconcile_grant_at_start (self, g, boot_id, read);
      else
        verdict = usable && !g->revoking ? GRANT_KEEP : GRANT_REVOKE;
      if (verdict == GRANT_REAPPLY)
        g_ptr_array_add (again, (gpointer) g);
      if (verdict == GRANT_REVOKE)
        {
          /* a group no longer usable: everybody's */
          char *key = usable ? g_strdup_printf ("%u:%u", g->group, (unsigned) g->uid)
                             : g_strdup_printf ("%u:all", g->group);
          if (g_hash_table_add (revoke, key))
            g_ptr_array_add (revoke_order, (gpointer) g);
        }
    }

  for (guint i = 0; i < revoke_order->len; i++)
    {
      const Grant *g = g_ptr_array_index (revoke_order, i);
      _cleanup_ (sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
      gboolean usable = model_group_usable (self->model, g->group);
      g_autofree char *what = g_strdup_printf ("IOMMU group %u", g->group);

      if (usable)
        g_message ("Taking back uid %u's grants on IOMMU group %u", (unsigned) g->uid, g->group);
      else
        g_message ("IOMMU group %u is no longer detached and viable: taking back its grants",
                   g->group);
      if (use_revoke (self->grants, g->group, usable ? g->uid : (uid_t) -1, what, NULL, &error) < 0)
        g_warning ("%s", error.message);
    }

  for (guint i = 0; i < again->len; i++)
    {
      const Grant *g = g_ptr_array_index (again, i);
      g_autofree char *mine = g_strdup_printf ("%u:%u", g->group, (unsigned) g->uid);
      g_autofree char *everybody = g_strdup_printf ("%u:all", g->group);
      int r;

      if (g_hash_table_contains (revoke, mine) || g_hash_table_contains (revoke, everybody))
        continue;
      r = access_acl_grant (g->path, g->uid);
      if (r < 0 && r != -ENOENT)
        g_warning ("Cannot give uid %u's access to %s back after a restart: %s", (unsigned) g->uid,
                   g->path, g_strerror (-r));
    }
}

const MethodSpec manager_uses[] = {
  {
      .method = SD_BUS_METHOD_WITH_ARGS (
          VFIOD_METHOD_OPEN_GROUP, SD_BUS_ARGS ("s", device, "t", flags),
          SD_BUS_RESULT ("u", group, "h", fd), engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_GROUP,
      .parse = open_group_parse,
      .prepare = use_prepare,
      .authorize = use_authorize,
      .work = use_work,
      .reply = open_group_reply,
      .free = use_data_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (
          VFIOD_METHOD_OPEN_DEVICE, SD_BUS_ARGS ("s", device, "t", flags), SD_BUS_RESULT ("h", fd),
          engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_GROUP,
      .parse = open_device_parse,
      .prepare = use_prepare,
      .authorize = use_authorize,
      .work = use_work,
      .reply = open_device_reply,
      .free = use_data_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (
          VFIOD_METHOD_GRANT_ACCESS, SD_BUS_ARGS ("s", device, "t", flags),
          SD_BUS_RESULT ("aa{sv}", nodes), engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_GROUP,
      .parse = grant_parse,
      .prepare = use_prepare,
      .authorize = use_authorize,
      .work = use_work,
      .reply = nodes_reply,
      .free = use_data_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (
          VFIOD_METHOD_REVOKE_ACCESS, SD_BUS_ARGS ("s", device, "t", flags),
          SD_BUS_RESULT ("aa{sv}", nodes), engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .flags = METHOD_GROUP,
      .parse = revoke_parse,
      .prepare = use_prepare,
      .authorize = use_authorize,
      .work = use_work,
      .reply = nodes_reply,
      .free = use_data_free,
  },
  {
      .method = SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT,
                                         SD_BUS_ARGS ("h", pidfd, "t", bytes), SD_BUS_NO_RESULT,
                                         engine_method, SD_BUS_VTABLE_UNPRIVILEGED),
      .parse = lock_memory_parse,
      .authorize = lock_memory_authorize,
      .work = lock_memory_work,
      .free = lock_memory_free,
  },
  ENGINE_METHODS_END,
};
