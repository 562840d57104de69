/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of json-writer.c: the string escaper and the document layout. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "json-writer.h"

static char *escape(const char *s) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        g_assert_nonnull(f);
        json_write_string(f, s);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static void assert_escaped(const char *in, const char *expected) {
        char *out = escape(in);
        g_assert_cmpstr(out, ==, expected);
        free(out);
}

static void test_escape_plain(void) {
        assert_escaped("", "\"\"");
        assert_escaped("0000:03:00.0", "\"0000:03:00.0\"");
        assert_escaped("mounted: / (sda2)", "\"mounted: / (sda2)\"");
}

static void test_escape_quote_backslash(void) {
        assert_escaped("say \"hi\"", "\"say \\\"hi\\\"\"");
        assert_escaped("a\\b", "\"a\\\\b\"");
        assert_escaped("\\\"", "\"\\\\\\\"\"");
}

static void test_escape_control(void) {
        assert_escaped("a\nb", "\"a\\u000ab\"");
        assert_escaped("\t\r\b\f", "\"\\u0009\\u000d\\u0008\\u000c\"");
        assert_escaped("\x01\x1f", "\"\\u0001\\u001f\"");
        assert_escaped("\x1b[31mred", "\"\\u001b[31mred\"");
        assert_escaped("\x7f", "\"\\u007f\"");
}

static void test_escape_utf8(void) {
        /* UTF-8 passes through untouched, including U+2028 and 4-byte forms. */
        assert_escaped("Realtek é ü", "\"Realtek é ü\"");
        assert_escaped("→ \u2028 \U0001F600", "\"→ \u2028 \U0001F600\"");
        assert_escaped("/", "\"/\"");
}

static char *document(bool pretty, bool empty) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        JsonWriter w;

        json_writer_init(&w, f, pretty);
        json_writer_begin_object(&w);
        json_writer_key(&w, "group");
        json_writer_uint(&w, 4294967295u);
        json_writer_key(&w, "devices");
        json_writer_begin_array(&w);
        if (!empty) {
                json_writer_begin_object(&w);
                json_writer_key(&w, "address");
                json_writer_string(&w, "0000:03:00.0");
                json_writer_key(&w, "bridge");
                json_writer_bool(&w, false);
                json_writer_key(&w, "vendor_id");
                json_writer_uint(&w, 0x8086);
                json_writer_end_object(&w);
                json_writer_begin_object(&w);
                json_writer_key(&w, "bridge");
                json_writer_bool(&w, true);
                json_writer_end_object(&w);
        }
        json_writer_end_array(&w);
        json_writer_end_object(&w);
        g_assert_cmpint(json_writer_finish(&w), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static void test_writer_compact(void) {
        char *s = document(false, false);
        g_assert_cmpstr(s, ==,
                        "{\"group\":4294967295,\"devices\":[{\"address\":\"0000:03:00.0\","
                        "\"bridge\":false,\"vendor_id\":32902},{\"bridge\":true}]}\n");
        free(s);
}

static void test_writer_pretty(void) {
        char *s = document(true, false);
        g_assert_cmpstr(s, ==,
                        "{\n"
                        "  \"group\": 4294967295,\n"
                        "  \"devices\": [\n"
                        "    {\n"
                        "      \"address\": \"0000:03:00.0\",\n"
                        "      \"bridge\": false,\n"
                        "      \"vendor_id\": 32902\n"
                        "    },\n"
                        "    {\n"
                        "      \"bridge\": true\n"
                        "    }\n"
                        "  ]\n"
                        "}\n");
        free(s);
}

static void test_writer_empty(void) {
        char *s = document(false, true);
        g_assert_cmpstr(s, ==, "{\"group\":4294967295,\"devices\":[]}\n");
        free(s);
        s = document(true, true);
        g_assert_cmpstr(s, ==, "{\n  \"group\": 4294967295,\n  \"devices\": []\n}\n");
        free(s);
}

/* vfioctl monitor: a Group property without a group is null. */
static void test_writer_null(void) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        JsonWriter w;

        g_assert_nonnull(f);
        json_writer_init(&w, f, false);
        json_writer_begin_object(&w);
        json_writer_key(&w, "old");
        json_writer_null(&w);
        json_writer_key(&w, "new");
        json_writer_uint(&w, 12);
        json_writer_key(&w, "list");
        json_writer_begin_array(&w);
        json_writer_null(&w);
        json_writer_null(&w);
        json_writer_end_array(&w);
        json_writer_end_object(&w);
        g_assert_cmpint(json_writer_finish(&w), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        g_assert_cmpstr(buf, ==, "{\"old\":null,\"new\":12,\"list\":[null,null]}\n");
        free(buf);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/json/escape/plain", test_escape_plain);
        g_test_add_func("/json/escape/quote-backslash", test_escape_quote_backslash);
        g_test_add_func("/json/escape/control", test_escape_control);
        g_test_add_func("/json/escape/utf8", test_escape_utf8);
        g_test_add_func("/json/writer/compact", test_writer_compact);
        g_test_add_func("/json/writer/pretty", test_writer_pretty);
        g_test_add_func("/json/writer/empty", test_writer_empty);
        g_test_add_func("/json/writer/null", test_writer_null);
        return g_test_run();
}
