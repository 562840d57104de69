/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl-output.c: how vfioctl's output looks (terminal or not, colour,
 * width), and the one JSON printer of values.
 */
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vfioctl.h"

Output out;

void output_init(void) {
        const char *term = getenv("TERM"), *columns = getenv("COLUMNS");

        out.tty = isatty(STDOUT_FILENO);
        out.color = out.tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
        out.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

        if (!out.tty)
                return;
        if (columns) {
                char *end;
                unsigned long n = strtoul(columns, &end, 10);
                if (*columns && !*end && n > 0 && n < 100000) {
                        out.width = n;
                        return;
                }
        }
        struct winsize ws;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                out.width = ws.ws_col;
}

const TableStyle *output_table_style(void) {
        static TableStyle style;
        style = (TableStyle){
                .header = out.tty,
                .color = out.color,
                .max_width = out.width,
                .ellipsis = out.utf8 ? "…" : "...",
        };
        return &style;
}

const char *output_arrow(void) {
        return out.tty && out.utf8 ? " → " : " -> ";
}

void json_value(JsonWriter *w, const VfiodValue *v) {
        switch (v ? v->type : VFIOD_VALUE_NULL) {
        case VFIOD_VALUE_NULL: json_writer_null(w); break;
        case VFIOD_VALUE_STRING: json_writer_string(w, v->text); break;
        case VFIOD_VALUE_NUMBER: json_writer_uint(w, v->number); break;
        case VFIOD_VALUE_BOOLEAN: json_writer_bool(w, v->boolean); break;
        case VFIOD_VALUE_LIST:
                json_writer_begin_array(w);
                for (size_t i = 0; i < v->n_items; i++)
                        json_writer_string(w, v->items[i]);
                json_writer_end_array(w);
                break;
        case VFIOD_VALUE_NUMBER_LIST:
                json_writer_begin_array(w);
                for (size_t i = 0; i < v->n_items; i++)
                        json_writer_uint(w, v->numbers[i]);
                json_writer_end_array(w);
                break;
        }
}

/* The D-Bus dictionaries' own keys and types, driven by libvfiod's table
 * of them (a key the service adds needs nothing here). */
void json_field(const VfiodField *f, void *userdata) {
        JsonWriter *w = userdata;

        json_writer_key(w, f->key);
        json_value(w, f->value);
}
