/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* model.c's reads from the objects: model_when_current() answers from
 * the main loop, after the read under way and the news that came during
 * it, never later than its timeout, and with FALSE when the model
 * closes.  The model reads this machine's /sys (read-only; what it finds
 * does not matter, only when the callbacks come). */
#include <glib.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "model.h"
#include "names.h"

typedef struct {
  char *dir;
  Records *records;
  Model *model;
  /* the callbacks seen */
  guint calls;
  gboolean current;         /* the last call's flag */
  gboolean current_in_call; /* model_is_current() during it */
  guint probes;             /* news probe: TRUE this many more times */
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  if (access (VFIOD_SYSFS_PCI_DEVICES, R_OK) != 0)
    {
      g_test_skip ("no " VFIOD_SYSFS_PCI_DEVICES " on this machine to read");
      return;
    }
  f->dir = g_dir_make_tmp ("vfiod-test-model-XXXXXX", NULL);
  g_assert_nonnull (f->dir);
  f->records = records_new (f->dir);
  f->model = model_new (NULL, f->records, NULL);
  g_assert_nonnull (f->model);
  model_load (f->model);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  model_free (f->model);
  records_free (f->records);
  g_rmdir (f->dir);
  g_free (f->dir);
}

static void
on_current (gboolean current, gpointer data)
{
  Fixture *f = data;

  f->calls++;
  f->current = current;
  f->current_in_call = model_is_current (f->model);
}

static void
wait_for_calls (Fixture *f, guint calls)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (f->calls < calls && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (f->calls, ==, calls);
}

static gboolean
probe (gpointer data)
{
  Fixture *f = data;

  if (f->probes == 0)
    return FALSE;
  if (f->probes != G_MAXUINT)
    f->probes--;
  return TRUE;
}

/* Current after model_load(): answered from an idle, never inside the
 * call, with TRUE, and the objects are readable then. */
static void
test_current_now (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  g_assert_true (model_is_current (f->model));
  model_when_current (f->model, on_current, f);
  g_assert_cmpuint (f->calls, ==, 0);
  wait_for_calls (f, 1);
  g_assert_true (f->current);
  g_assert_true (f->current_in_call);
  g_assert_nonnull (model_view_devices (f->model));
}

/* A read under way, and news during it: the callback comes after the
 * read the news started, with the objects current. */
static void
test_waits_for_the_read (Fixture *f, gconstpointer data)
{
  g_autoptr (View) before = NULL;

  if (f->dir == NULL)
    return;
  before = model_ref_view (f->model);
  model_host_changed (f->model); /* a read starts */
  g_assert_false (model_is_current (f->model));
  model_when_current (f->model, on_current, f);
  model_host_changed (f->model); /* news while it reads: another one */
  model_when_current (f->model, on_current, f);
  g_assert_cmpuint (f->calls, ==, 0);
  wait_for_calls (f, 2);
  g_assert_true (f->current);
  g_assert_true (f->current_in_call);
  /* a new reading is shown; the old one is still there for its holder */
  g_assert_true (model_view_devices (f->model) != before->devices);
  g_assert_cmpuint (before->devices->len, ==, model_view_devices (f->model)->len);
  for (guint i = 0; i < before->devices->len; i++)
    {
      const Device *d = g_ptr_array_index (before->devices, i);
      g_assert_true (model_device (f->model, d->name) != NULL);
      if (d->group != DEVICE_NO_GROUP)
        g_assert_nonnull (model_view_group (f->model, (uint32_t) d->group));
    }
  g_assert_null (model_view_group (f->model, G_MAXUINT32));
}

/* News waiting that the model was not told yet (the probe says so):
 * not current, and read again before the callback. */
static void
test_news_waiting (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  model_set_news_probe (f->model, probe, f);
  f->probes = 1;
  g_assert_false (model_is_current (f->model));
  g_assert_cmpuint (f->probes, ==, 0);
  model_when_current (f->model, on_current, f);
  wait_for_calls (f, 1);
  g_assert_true (f->current);
  g_assert_true (model_is_current (f->model));
}

/* Never current (news keeps coming): the callback comes at the timeout,
 * with FALSE, while reads go on. */
static void
test_timeout (Fixture *f, gconstpointer data)
{
  gint64 start;

  if (f->dir == NULL)
    return;
  model_set_current_timeout (f->model, 100);
  model_set_news_probe (f->model, probe, f);
  f->probes = G_MAXUINT;
  start = g_get_monotonic_time ();
  model_when_current (f->model, on_current, f);
  wait_for_calls (f, 1);
  g_assert_false (f->current);
  g_assert_false (f->current_in_call);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 100 * 1000);
  f->probes = 0;
}

/* A record written by hand is news: the callback comes after a read
 * that sees it, not from the reading before it. */
static void
test_records_are_news (Fixture *f, gconstpointer data)
{
  g_autofree char *path = NULL;
  GPtrArray *before;

  if (f->dir == NULL)
    return;
  g_assert_true (model_is_current (f->model));
  before = model_view_devices (f->model);
  path = g_build_filename (f->dir, "0000:00:00.0.conf", NULL);
  g_assert_true (g_file_set_contents (path, "garbage\n", -1, NULL));
  model_when_current (f->model, on_current, f);
  wait_for_calls (f, 1);
  g_assert_true (f->current);
  g_assert_true (model_view_devices (f->model) != before);
  g_assert_cmpint (g_unlink (path), ==, 0);
}

/* Closing: whoever still waits is called, with FALSE, once. */
static void
test_closing (Fixture *f, gconstpointer data)
{
  if (f->dir == NULL)
    return;
  model_host_changed (f->model);
  model_when_current (f->model, on_current, f);
  model_free (f->model);
  f->model = NULL;
  g_assert_cmpuint (f->calls, ==, 1);
  g_assert_false (f->current);
  f->model = model_new (NULL, f->records, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the model's reader comes back to the thread owning the default context */
  g_main_context_acquire (NULL);
  g_test_add ("/model/current-now", Fixture, NULL, fixture_setup, test_current_now,
              fixture_teardown);
  g_test_add ("/model/waits-for-the-read", Fixture, NULL, fixture_setup, test_waits_for_the_read,
              fixture_teardown);
  g_test_add ("/model/news-waiting", Fixture, NULL, fixture_setup, test_news_waiting,
              fixture_teardown);
  g_test_add ("/model/timeout", Fixture, NULL, fixture_setup, test_timeout, fixture_teardown);
  g_test_add ("/model/records-are-news", Fixture, NULL, fixture_setup, test_records_are_news,
              fixture_teardown);
  g_test_add ("/model/closing", Fixture, NULL, fixture_setup, test_closing, fixture_teardown);
  return g_test_run ();
}
