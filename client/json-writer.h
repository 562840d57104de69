/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * json-writer.h: a small streaming JSON writer for vfioctl --json.
 *
 * Strings are written as given (D-Bus guarantees valid UTF-8, which JSON
 * takes as is) with '"', '\\' and control characters escaped; numbers are
 * unsigned integers; no floating point is ever needed.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_WRITER_MAX_DEPTH 16

typedef struct JsonWriter {
        FILE *f;
        bool pretty; /* newlines and two-space indentation */
        unsigned depth;
        bool has_items[JSON_WRITER_MAX_DEPTH];
        bool after_key;
} JsonWriter;

void json_writer_init(JsonWriter *w, FILE *f, bool pretty);

void json_writer_begin_object(JsonWriter *w);
void json_writer_end_object(JsonWriter *w);
void json_writer_begin_array(JsonWriter *w);
void json_writer_end_array(JsonWriter *w);
void json_writer_key(JsonWriter *w, const char *key);
void json_writer_string(JsonWriter *w, const char *s);
void json_writer_uint(JsonWriter *w, uint64_t v);
void json_writer_bool(JsonWriter *w, bool v);
void json_writer_null(JsonWriter *w);

/* Ends the document with a newline and flushes; 0 or -errno. */
int json_writer_finish(JsonWriter *w);

/* Writes s as a quoted JSON string. */
void json_write_string(FILE *f, const char *s);
