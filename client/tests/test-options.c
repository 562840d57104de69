/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of options.c: vfioctl's command line. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>

#include "options.h"

static int run_stub(Vfioctl *ctx, char **args, size_t n_args) {
        return 0;
}

/* The same shape as vfioctl's own table. */
static const Verb verbs[] = {
        {"list", NULL, "", 0, 0, 0, true, run_stub},
        {"group", "DEVICE", "", 1, 1, 0, false, run_stub},
        {"detach", "DEVICE", "", 1, 1, VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN | VERB_OPTION_FORCE, false,
         run_stub},
        {"reattach", "DEVICE", "", 1, 1, VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN, false, run_stub},
        {"run", "DEVICE... -- COMMAND", "", 2, SIZE_MAX,
         VERB_OPTION_GROUP | VERB_OPTION_FD_ENV | VERB_OPTION_MEMLOCK, false, run_stub},
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

/* Parses a NULL-terminated argument list; returns the verb or NULL and
 * the usage error in *ret_error. */
static const Verb *parse(Options *o, char **ret_error, ...) {
        char *argv[16] = {(char *) "vfioctl"};
        int argc = 1;
        va_list ap;
        const char *arg;
        const Verb *verb = NULL;
        int r;

        va_start(ap, ret_error);
        while ((arg = va_arg(ap, const char *)))
                argv[argc++] = (char *) arg;
        va_end(ap);

        *ret_error = NULL;
        r = options_parse(argc, argv, o, ret_error);
        if (r < 0) {
                g_assert_cmpint(r, ==, -EINVAL);
                g_assert_nonnull(*ret_error);
                *o = (Options){0};
                return NULL;
        }
        g_assert_null(*ret_error);
        r = options_find_verb(o, verbs, N_VERBS, &verb, ret_error);
        if (r < 0) {
                g_assert_cmpint(r, ==, -EINVAL);
                g_assert_nonnull(*ret_error);
                return NULL;
        }
        return verb;
}

static void assert_usage_error(const char *expected, ...) {
        /* Rebuild the call with the variadic list: at most 6 arguments. */
        const char *a[7] = {NULL};
        va_list ap;
        va_start(ap, expected);
        for (int i = 0; i < 6 && (a[i] = va_arg(ap, const char *)); i++)
                ;
        va_end(ap);

        Options o;
        char *error;
        const Verb *v = parse(&o, &error, a[0], a[1], a[2], a[3], a[4], a[5], NULL);
        g_assert_null(v);
        g_assert_cmpstr(error, ==, expected);
        free(error);
        options_clear(&o);
}

static void test_default_verb(void) {
        Options o;
        char *error;
        const Verb *v = parse(&o, &error, NULL);
        g_assert_nonnull(v);
        g_assert_cmpstr(v->name, ==, "list");
        g_assert_cmpuint(o.n_args, ==, 0);
        g_assert_true(o.ask_password);
        g_assert_false(o.json);
        options_clear(&o);

        v = parse(&o, &error, "--json", NULL);
        g_assert_cmpstr(v->name, ==, "list");
        g_assert_true(o.json);
        options_clear(&o);
}

static void test_verb_with_device(void) {
        Options o;
        char *error;
        const Verb *v = parse(&o, &error, "group", "03:00.0", NULL);
        g_assert_cmpstr(v->name, ==, "group");
        g_assert_cmpuint(o.n_args, ==, 2);
        g_assert_cmpstr(o.args[1], ==, "03:00.0");
        options_clear(&o);
}

static void test_options_anywhere(void) {
        Options o;
        char *error;
        const Verb *v = parse(&o, &error, "detach", "03:00.0", "--group", "--no-ask-password", "--dry-run",
                              "--json", NULL);
        g_assert_cmpstr(v->name, ==, "detach");
        g_assert_cmpuint(o.verb_options, ==, VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN);
        g_assert_false(o.ask_password);
        g_assert_true(o.json);
        g_assert_cmpuint(o.n_args, ==, 2);
        g_assert_cmpstr(o.args[1], ==, "03:00.0");
        options_clear(&o);

        v = parse(&o, &error, "--force", "detach", "--group", "0000:03:00.0", NULL);
        g_assert_cmpstr(v->name, ==, "detach");
        g_assert_cmpuint(o.verb_options, ==, VERB_OPTION_GROUP | VERB_OPTION_FORCE);
        options_clear(&o);
}

static void test_double_dash(void) {
        Options o;
        char *error;
        /* After "--" a leading dash is an argument (the service rejects it). */
        const Verb *v = parse(&o, &error, "group", "--", "--json", NULL);
        g_assert_cmpstr(v->name, ==, "group");
        g_assert_false(o.json);
        g_assert_cmpstr(o.args[1], ==, "--json");
        options_clear(&o);

        /* A lone "-" is an argument too. */
        v = parse(&o, &error, "group", "-", NULL);
        g_assert_cmpstr(v->name, ==, "group");
        g_assert_cmpstr(o.args[1], ==, "-");
        options_clear(&o);
}

static void test_sizes(void) {
        static const struct {
                const char *text;
                uint64_t bytes;
        } good[] = {
                {"1", 1},
                {"4096", 4096},
                {"8G", 8ULL << 30},
                {"8g", 8ULL << 30},
                {"256M", 256ULL << 20},
                {"256MiB", 256ULL << 20},
                {"256MB", 256ULL << 20},
                {"1K", 1024},
                {"2T", 2ULL << 40},
                {"16777215T", 16777215ULL << 40},
        };
        static const char *const bad[] = {
                "",     "0",  "0G",  "-1",   "+1",   " 1",        "1 G",
                "G",    "1X", "1GG", "1Gib", "1.5G", "16777216T", "99999999999999999999",
                "0x10",
        };
        uint64_t v;

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
                g_assert_cmpint(parse_size(good[i].text, &v), ==, 0);
                g_assert_cmpuint(v, ==, good[i].bytes);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                g_assert_cmpint(parse_size(bad[i], &v), ==, -EINVAL);
}

/* run: --memlock with its value either way, and where "--" was. */
static void test_run_command(void) {
        Options o;
        char *error;
        const Verb *v = parse(&o, &error, "run", "--memlock", "8G", "03:00.0", "04:00.0", "--", "qemu", "-m",
                              "4G", NULL);

        g_assert_cmpstr(v->name, ==, "run");
        g_assert_cmpuint(o.memlock, ==, 8ULL << 30);
        g_assert_true(o.verb_options & VERB_OPTION_MEMLOCK);
        g_assert_cmpuint(o.dashdash, ==, 3); /* run, 03:00.0, 04:00.0 */
        g_assert_cmpstr(o.args[3], ==, "qemu");
        g_assert_cmpstr(o.args[4], ==, "-m"); /* the command's, not ours */
        options_clear(&o);

        v = parse(&o, &error, "run", "--memlock=256M", "--fd-env", "03:00.0", "--", "true", NULL);
        g_assert_cmpuint(o.memlock, ==, 256ULL << 20);
        g_assert_true(o.verb_options & VERB_OPTION_FD_ENV);
        options_clear(&o);

        g_assert_null(parse(&o, &error, "run", "03:00.0", "--memlock", NULL));
        g_assert_nonnull(strstr(error, "needs a size"));
        free(error);
        g_assert_null(parse(&o, &error, "run", "--memlock", "lots", "03:00.0", "--", "x", NULL));
        g_assert_nonnull(strstr(error, "not a size"));
        free(error);
        /* only run takes them */
        g_assert_null(parse(&o, &error, "detach", "--memlock", "1G", "03:00.0", NULL));
        free(error);
        options_clear(&o);
}

static void test_help_version(void) {
        Options o;
        char *error;
        parse(&o, &error, "--help", NULL);
        g_assert_true(o.help);
        options_clear(&o);
        parse(&o, &error, "-h", NULL);
        g_assert_true(o.help);
        options_clear(&o);
        /* --help wins even over a bad command line's verb part. */
        g_assert_cmpint(
                options_parse(3, (char *[]){(char *) "vfioctl", (char *) "frob", (char *) "--version", NULL},
                              &o, &error),
                ==, 0);
        g_assert_true(o.version);
        options_clear(&o);
}

static void test_unknown_option(void) {
        assert_usage_error("unknown option '--frob'", "--frob", NULL);
        assert_usage_error("unknown option '-x'", "list", "-x", NULL);
        assert_usage_error("unknown option '--Group'", "detach", "--Group", "03:00.0", NULL);
}

static void test_option_value(void) {
        assert_usage_error("option '--json' takes no value", "--json=pretty", NULL);
        assert_usage_error("option '--group' takes no value", "detach", "--group=1", "03:00.0", NULL);
}

static void test_unknown_verb(void) {
        assert_usage_error("unknown command 'frob'", "frob", NULL);
        assert_usage_error("unknown command 'LIST'", "LIST", NULL);
}

static void test_missing_device(void) {
        assert_usage_error("missing DEVICE for 'group'", "group", NULL);
        assert_usage_error("missing DEVICE for 'detach'", "detach", "--group", NULL);
        assert_usage_error("missing DEVICE for 'reattach'", "reattach", NULL);
}

static void test_too_many(void) {
        assert_usage_error("too many arguments for 'list'", "list", "03:00.0", NULL);
        assert_usage_error("too many arguments for 'group'", "group", "03:00.0", "04:00.0", NULL);
}

static void test_verb_option_not_allowed(void) {
        assert_usage_error("option '--force' is not valid for 'reattach'", "reattach", "--force", "03:00.0",
                           NULL);
        assert_usage_error("option '--group' is not valid for 'list'", "--group", NULL);
        assert_usage_error("option '--dry-run' is not valid for 'group'", "group", "--dry-run", "03:00.0",
                           NULL);
}

static void test_verb_option_names(void) {
        g_assert_cmpstr(verb_option_name(VERB_OPTION_GROUP), ==, "--group");
        g_assert_cmpstr(verb_option_name(VERB_OPTION_DRY_RUN), ==, "--dry-run");
        g_assert_cmpstr(verb_option_name(VERB_OPTION_FORCE), ==, "--force");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/options/default-verb", test_default_verb);
        g_test_add_func("/options/sizes", test_sizes);
        g_test_add_func("/options/run-command", test_run_command);
        g_test_add_func("/options/verb-with-device", test_verb_with_device);
        g_test_add_func("/options/anywhere", test_options_anywhere);
        g_test_add_func("/options/double-dash", test_double_dash);
        g_test_add_func("/options/help-version", test_help_version);
        g_test_add_func("/options/unknown-option", test_unknown_option);
        g_test_add_func("/options/option-value", test_option_value);
        g_test_add_func("/options/unknown-verb", test_unknown_verb);
        g_test_add_func("/options/missing-device", test_missing_device);
        g_test_add_func("/options/too-many", test_too_many);
        g_test_add_func("/options/verb-option-not-allowed", test_verb_option_not_allowed);
        g_test_add_func("/options/verb-option-names", test_verb_option_names);
        return g_test_run();
}
