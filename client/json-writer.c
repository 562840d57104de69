/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-writer.c: see json-writer.h.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>

#include "json-writer.h"

void json_write_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\') {
                        fputc('\\', f);
                        fputc(*p, f);
                } else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f); /* ASCII and UTF-8 sequences as they are */
        }
        fputc('"', f);
}

void json_writer_init(JsonWriter *w, FILE *f, bool pretty) {
        assert(w);
        assert(f);
        *w = (JsonWriter){.f = f, .pretty = pretty};
}

static void json_writer_newline(JsonWriter *w, unsigned depth) {
        if (!w->pretty)
                return;
        fputc('\n', w->f);
        for (unsigned i = 0; i < depth; i++)
                fputs("  ", w->f);
}

/* Separator and indentation before a key, or before a value that does not
 * follow a key. */
static void json_writer_prefix(JsonWriter *w) {
        if (w->after_key) {
                w->after_key = false;
                return;
        }
        if (w->depth == 0)
                return;
        if (w->has_items[w->depth])
                fputc(',', w->f);
        w->has_items[w->depth] = true;
        json_writer_newline(w, w->depth);
}

static void json_writer_begin(JsonWriter *w, char open) {
        json_writer_prefix(w);
        assert(w->depth + 1 < JSON_WRITER_MAX_DEPTH);
        fputc(open, w->f);
        w->depth++;
        w->has_items[w->depth] = false;
}

static void json_writer_end(JsonWriter *w, char close) {
        assert(w->depth > 0);
        assert(!w->after_key);
        if (w->has_items[w->depth])
                json_writer_newline(w, w->depth - 1);
        w->depth--;
        fputc(close, w->f);
}

void json_writer_begin_object(JsonWriter *w) {
        json_writer_begin(w, '{');
}

void json_writer_end_object(JsonWriter *w) {
        json_writer_end(w, '}');
}

void json_writer_begin_array(JsonWriter *w) {
        json_writer_begin(w, '[');
}

void json_writer_end_array(JsonWriter *w) {
        json_writer_end(w, ']');
}

void json_writer_key(JsonWriter *w, const char *key) {
        assert(w->depth > 0);
        assert(!w->after_key);
        json_writer_prefix(w);
        json_write_string(w->f, key);
        fputs(w->pretty ? ": " : ":", w->f);
        w->after_key = true;
}

void json_writer_string(JsonWriter *w, const char *s) {
        json_writer_prefix(w);
        json_write_string(w->f, s ? s : "");
}

void json_writer_uint(JsonWriter *w, uint64_t v) {
        json_writer_prefix(w);
        fprintf(w->f, "%" PRIu64, v);
}

void json_writer_bool(JsonWriter *w, bool v) {
        json_writer_prefix(w);
        fputs(v ? "true" : "false", w->f);
}

void json_writer_null(JsonWriter *w) {
        json_writer_prefix(w);
        fputs("null", w->f);
}

int json_writer_finish(JsonWriter *w) {
        assert(w->depth == 0);
        fputc('\n', w->f);
        if (fflush(w->f) != 0 || ferror(w->f))
                return errno > 0 ? -errno : -EIO;
        return 0;
}
