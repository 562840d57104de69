/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "offload.h"

struct Offload {
  char *name;
  GThreadPool *pool;
  guint pending; /* main thread only */
};

typedef struct {
  Offload *offload;
  OffloadFunc work;
  OffloadFunc done;
  gpointer data;
} Job;

static gboolean
job_done (gpointer user_data)
{
  Job *job = user_data;

  g_assert (g_main_context_is_owner (g_main_context_default ()));
  job->offload->pending--;
  job->done (job->data);
  g_free (job);
  return G_SOURCE_REMOVE;
}

static void
job_run (gpointer data, gpointer pool_data)
{
  Job *job = data;

  job->work (job->data);
  g_idle_add_full (G_PRIORITY_DEFAULT, job_done, job, NULL);
}

Offload *
offload_new (const char *name, int max_threads)
{
  Offload *self = g_new0 (Offload, 1);

  self->name = g_strdup (name);
  self->pool = g_thread_pool_new (job_run, self, max_threads, FALSE, NULL);
  return self;
}

void
offload_free (Offload *self)
{
  if (self == NULL)
    return;
  g_thread_pool_free (self->pool, FALSE, TRUE);
  g_free (self->name);
  g_free (self);
}

void
offload_push (Offload *self, OffloadFunc work, OffloadFunc done, gpointer data)
{
  Job *job = g_new (Job, 1);
  g_autoptr (GError) error = NULL;

  g_assert (g_main_context_is_owner (g_main_context_default ()));
  *job = (Job){ .offload = self, .work = work, .done = done, .data = data };
  self->pending++;
  /* queued even when no new thread could be made: a running one takes it */
  if (!g_thread_pool_push (self->pool, job, &error))
    g_warning ("Cannot start a %s thread (%s): the job waits for a running one", self->name,
               error->message);
}

guint
offload_pending (Offload *self)
{
  return self->pending;
}
