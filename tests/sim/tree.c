/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tree.c: the node tree (directories, files, links) of the simulated sysfs.
 */
#include "sim.h"

#include <string.h>

static uint64_t next_ino = 1;
/* Removed files and directories: kept (an open descriptor may still point
 * at them) until node_free_all(). */
static GPtrArray *graveyard;

SimNode *node_new_root(void) {
        SimNode *n = g_new0(SimNode, 1);

        n->name = g_strdup("");
        n->type = NODE_DIR;
        n->mode = 0755;
        n->ino = next_ino++;
        n->children = g_hash_table_new(g_str_hash, g_str_equal);
        n->order = g_ptr_array_new();
        return n;
}

static SimNode *node_new(SimNode *parent, const char *name, NodeType type, mode_t mode) {
        SimNode *n;

        g_assert(parent && parent->type == NODE_DIR);
        g_assert(!g_hash_table_contains(parent->children, name));
        n = g_new0(SimNode, 1);
        n->name = g_strdup(name);
        n->type = type;
        n->mode = mode;
        n->ino = next_ino++;
        n->parent = parent;
        if (type == NODE_DIR) {
                n->children = g_hash_table_new(g_str_hash, g_str_equal);
                n->order = g_ptr_array_new();
        }
        g_hash_table_insert(parent->children, n->name, n);
        g_ptr_array_add(parent->order, n);
        return n;
}

SimNode *node_child(SimNode *dir, const char *name) {
        if (!dir || dir->type != NODE_DIR)
                return NULL;
        return g_hash_table_lookup(dir->children, name);
}

SimNode *node_dir(SimNode *parent, const char *name) {
        SimNode *n = node_child(parent, name);

        if (n) {
                g_assert(n->type == NODE_DIR);
                return n;
        }
        return node_new(parent, name, NODE_DIR, 0755);
}

SimNode *node_dir_path(SimNode *parent, const char *relpath) {
        g_auto(GStrv) parts = g_strsplit(relpath, "/", -1);

        for (char **p = parts; *p; p++)
                if (**p)
                        parent = node_dir(parent, *p);
        return parent;
}

SimNode *node_attr(SimNode *dir, const char *name, mode_t mode, AttrKind kind, SimDevice *dev,
                   SimDriver *drv) {
        SimNode *n = node_new(dir, name, NODE_FILE, mode);

        n->kind = kind;
        n->dev = dev;
        n->drv = drv;
        return n;
}

SimNode *node_text(SimNode *dir, const char *name, mode_t mode, const char *text) {
        SimNode *n = node_new(dir, name, NODE_FILE, mode);

        n->kind = ATTR_STATIC;
        n->text = g_strdup(text);
        return n;
}

char *node_path(const SimNode *node) {
        GPtrArray *parts = g_ptr_array_new();
        GString *s = g_string_new(NULL);

        for (const SimNode *n = node; n && n->parent; n = n->parent)
                g_ptr_array_add(parts, n->name);
        for (guint i = parts->len; i > 0; i--) {
                g_string_append_c(s, '/');
                g_string_append(s, parts->pdata[i - 1]);
        }
        if (s->len == 0)
                g_string_append_c(s, '/');
        g_ptr_array_free(parts, TRUE);
        return g_string_free(s, FALSE);
}

/* The relative path from directory @from to node @to, like sysfs links. */
static char *relative_path(const SimNode *from, const SimNode *to) {
        g_autofree char *a = node_path(from);
        g_autofree char *b = node_path(to);
        g_auto(GStrv) pa = g_strsplit(a + 1, "/", -1);
        g_auto(GStrv) pb = g_strsplit(b + 1, "/", -1);
        GString *s = g_string_new(NULL);
        guint i = 0;

        while (pa[i] && pb[i] && strcmp(pa[i], pb[i]) == 0)
                i++;
        for (guint j = i; pa[j]; j++)
                g_string_append(s, "../");
        for (guint j = i; pb[j]; j++) {
                g_string_append(s, pb[j]);
                if (pb[j + 1])
                        g_string_append_c(s, '/');
        }
        return g_string_free(s, FALSE);
}

SimNode *node_link(SimNode *dir, const char *name, const SimNode *target) {
        SimNode *n = node_new(dir, name, NODE_LINK, 0777);

        n->target = relative_path(dir, target);
        return n;
}

static void node_kill(SimNode *node) {
        node->dead = true;
        if (node->type == NODE_DIR)
                for (guint i = 0; i < node->order->len; i++)
                        node_kill(node->order->pdata[i]);
}

void node_remove(SimNode *node) {
        SimNode *parent = node->parent;

        if (!parent)
                return;
        g_hash_table_remove(parent->children, node->name);
        g_ptr_array_remove(parent->order, node);
        node->parent = NULL;
        if (node->type == NODE_LINK) {
                /* Links are never held open (the kernel resolves them). */
                g_free(node->name);
                g_free(node->target);
                g_free(node);
                return;
        }
        /* Files and directories may still be open: mark them dead and keep
         * them, so a write through an old descriptor gets ENODEV. */
        node_kill(node);
        if (!graveyard)
                graveyard = g_ptr_array_new();
        g_ptr_array_add(graveyard, node);
}

static void node_free(SimNode *n) {
        if (n->type == NODE_DIR) {
                for (guint i = 0; i < n->order->len; i++)
                        node_free(n->order->pdata[i]);
                g_hash_table_unref(n->children);
                g_ptr_array_unref(n->order);
        }
        g_free(n->name);
        g_free(n->target);
        g_free(n->text);
        g_free(n);
}

void node_free_all(SimNode *root) {
        node_free(root);
        if (graveyard) {
                for (guint i = 0; i < graveyard->len; i++)
                        node_free(graveyard->pdata[i]);
                g_ptr_array_unref(graveyard);
                graveyard = NULL;
        }
}

void node_remove_child(SimNode *dir, const char *name) {
        SimNode *n = node_child(dir, name);

        if (n)
                node_remove(n);
}

SimNode *node_lookup(SimNode *root, const char *path) {
        SimNode *n = root;
        const char *p = path;

        while (n) {
                const char *slash;
                char name[256];
                size_t len;

                while (*p == '/')
                        p++;
                if (!*p)
                        return n;
                slash = strchrnul(p, '/');
                len = slash - p;
                if (len >= sizeof(name))
                        return NULL;
                memcpy(name, p, len);
                name[len] = '\0';
                n = node_child(n, name);
                p = slash;
        }
        return NULL;
}
