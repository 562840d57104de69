/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager-private.h: the Manager object's state and its call engine,
 * shared by the method families (manager-reads.c, manager-change.c,
 * manager-use.c); nothing outside them includes it.
 *
 * Every method of org.freedesktop.vfio1.Manager is a MethodSpec: what its
 * arguments are, how it is read and prepared, which polkit actions and
 * details it needs, its work and its reply.  One engine (manager-engine.c)
 * runs them all, the same way:
 *
 *   parse      main thread: the arguments, checked; the caller's uid
 *   (view)     METHOD_VIEW, main thread: once the objects are current
 *              (model_when_current(), bounded), call->view is their
 *              reading and from_view may answer from it at once; when
 *              they cannot be made current, or from_view cannot answer,
 *              prepare reads the machine as for any other method
 *   prepare    a reader thread: read what the answer or the check needs
 *              (sysfs, /proc, the records); refuse (call->error), settle
 *              (call->settled: answer now, no polkit), or go on
 *   authorize  main thread: call->what, the actions and details to ask
 *              polkit for (omitted: a read, always settled)
 *   work       a worker thread, under the group's lock when the method
 *              has a group: check again and act
 *   reply      main thread: the success reply's body
 *   finish     main thread, after the work, whatever its outcome
 *
 * The engine owns everything in between: the reader and worker pools, the
 * polkit chain with its per-sender limit and caller tracking, the group
 * locks, the watchdog of sysfs writes and early answers, and stopping.
 *
 * Threads: a Call is created, authorized, replied to and freed on the main
 * thread, which alone touches its message, its caller tracking and the
 * Manager's main-thread tables.  A reader (prepare) and then a worker
 * (work) each own the call while they run, and write only the call's
 * results (error, settled, group, data); the main thread reads them once
 * the thread is done (the idle source that carries the call back orders
 * the two). */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#include "address.h"
#include "authz.h"
#include "grants.h"
#include "manager.h"
#include "model.h"
#include "monitor.h"
#include "offload.h"
#include "records.h"
#include "settings.h"
#include "state.h"
#include "transaction.h"

/* The sd-bus handler of every method: finds its MethodSpec and runs it. */
int engine_method (sd_bus_message *m, void *userdata, sd_bus_error *error);

typedef struct Call Call;

typedef enum {
  METHOD_READ = 1 << 0,     /* reads only: answered while stopping, no polkit */
  METHOD_GROUP = 1 << 1,    /* acts on the target's IOMMU group: its lock,
                             * refused while the group is stuck */
  METHOD_WATCHDOG = 1 << 2, /* writes sysfs: watched while it works */
  METHOD_LARGE = 1 << 3,    /* its reply can be megabytes: trim after */
  METHOD_VIEW = 1 << 4,     /* a read the objects can answer when current */
} MethodFlags;

typedef struct {
  /* its vtable row: SD_BUS_METHOD_WITH_ARGS (VFIOD_METHOD_..., ..., engine_method,
   * SD_BUS_VTABLE_UNPRIVILEGED) */
  sd_bus_vtable method;
  MethodFlags flags;
  int (*parse) (Call *call, sd_bus_message *m, sd_bus_error *error);
  /* METHOD_VIEW, main thread, cheap: the answer's data from call->view
   * (TRUE), or FALSE when it has not got it (the device is not in it):
   * prepare then reads the machine */
  gboolean (*from_view) (Call *call);
  void (*prepare) (Call *call);
  void (*authorize) (Call *call);
  void (*work) (Call *call);
  int (*reply) (Call *call, sd_bus_message *reply);
  void (*finish) (Call *call);
  GDestroyNotify free; /* of call->data */
} MethodSpec;

struct Call {
  Manager *manager;
  const MethodSpec *spec;
  sd_bus_message *message;
  uid_t uid;                 /* the caller's euid */
  PciAddress target;         /* the device argument, parsed once ... */
  char name[ADDRESS_STRLEN]; /* ... and its normalised text */
  gboolean has_target;
  uint32_t group;         /* METHOD_GROUP: the target's, once prepared */
  gboolean settled;       /* prepared: answered without polkit */
  sd_bus_error error;     /* set: the caller gets this */
  char *what;             /* "detach 0000:03:00.0", for messages */
  const char *actions[3]; /* polkit actions to check, NULL holes skipped */
  char *details[11];      /* polkit details: key, value, ..., NULL */
  gpointer data;          /* the method's own */
  View *view;             /* METHOD_VIEW: the objects' reading, current when
                           * taken; NULL: prepare reads the machine */
  /* the engine's: */
  sd_bus_track *caller; /* while authorizing: tells when the caller leaves */
  GCancellable *cancel; /* the polkit check, withdrawn when it does */
  gboolean caller_gone;
  char *sender;                  /* counted in manager->authorizing while set */
  TransactionProgress *progress; /* while working (thread-safe) */
  guint watchdog;                /* while working, METHOD_WATCHDOG */
  gboolean answered;             /* the caller was answered before the work ended */
};

struct Manager {
  sd_bus *bus;
  sd_bus_slot *slot;
  sd_bus_vtable *vtable;
  Model *model;     /* the machine as the bus shows it; shared with threads */
  Monitor *monitor; /* keeps the model current */
  State *state;
  Grants *grants;   /* ACL entries given out (thread-safe) */
  Records *records; /* persistent assignments (thread-safe) */
  Authz *authz;
  Settings settings; /* the configuration file, read at start */
  GMutex locks_lock;
  GHashTable *group_locks; /* group → GMutex*: one operation per group at a time */
  guint write_timeout_ms;  /* a sysfs write taking longer is stuck */
  Offload *readers;        /* where prepare runs */
  Offload *workers;        /* where work runs */
  /* main thread only: */
  GHashTable *authorizing; /* sender → calls of it waiting for polkit */
  GPtrArray *waiting;      /* Call* waiting for polkit (withdrawn on quit) */
  GPtrArray *running;      /* Call* handed to a worker, not done yet */
  GHashTable *stuck;       /* group → Call* whose sysfs write does not return */
  guint working;           /* running calls whose caller still waits */
  guint abandoned;         /* running calls whose caller was answered early */
  guint viewing;           /* METHOD_VIEW calls waiting for the objects */
  gboolean quitting;       /* no new work: moving calls get ShuttingDown */
};

/* ---- the method families ------------------------------------------------ */

extern const MethodSpec manager_reads[];   /* GetGroup, ListDevices, ExplainGroup, ... */
extern const MethodSpec manager_changes[]; /* DetachDevice, ReattachDevice */
extern const MethodSpec manager_uses[];    /* OpenGroup ... SetLockedMemoryLimit */
/* each list ends with ENGINE_METHODS_END */

#define ENGINE_METHODS_END      \
  {                             \
    .method = SD_BUS_VTABLE_END \
  }

/* manager-use.c: the grants put in order with the machine (at start,
 * @reapply, and whenever the objects changed). */
void manager_reconcile_grants (Manager *manager, gboolean reapply);

/* manager-use.c: the machine's memory in bytes (0: unknown). */
uint64_t manager_physical_memory (void);

/* ---- the engine (manager-engine.c) --------------------------------------- */

/* Appends a vtable row for each of @specs to @vtable (grown). */
void engine_add_methods (GArray *vtable, const MethodSpec *specs);

/* The parts a family's parse uses: */
/* the device argument @text, parsed: call->target and call->name */
int engine_set_target (Call *call, const char *text, sd_bus_error *error);
/* the caller's euid: call->uid */
int engine_read_caller (Call *call, sd_bus_message *m, sd_bus_error *error);
/* Sets detail pair @i (0..4): @key and @value (taken). */
void engine_detail (Call *call, guint i, const char *key, char *value);

/* A reader's: the target's group into call->group (0), or the error set
 * (<0): no such device, no group, unreadable. */
int engine_read_group (Call *call);

/* The lock of IOMMU group @group (any thread). */
GMutex *engine_group_lock (Manager *manager, uint32_t group);

/* Whether the caller's group work was answered early (stuck behind a
 * write that does not return): a worker then does nothing. */
gboolean engine_call_abandoned (Call *call);

/* Asserts the caller runs on the main thread. */
void engine_assert_main_thread (void);
