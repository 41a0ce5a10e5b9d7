/*
 * Component glue for the plughost C SDK: maps the `plughost:plugin/guest`
 * exports onto the legacy C ABI (plugin_init, registered CallbackFns,
 * plugin_teardown) and implements PluginContext's register_callback and log
 * with the `plughost:plugin/host` imports. Canonical ABI by hand: no
 * generated bindings and no WASI imports needed.
 */
#include "plughost.h"

#include <stdlib.h>
#include <string.h>

#define HOST_IMPORT(name) __attribute__((import_module(PLUGHOST_WIT_HOST), import_name(name)))
#define GUEST_EXPORT(name) __attribute__((export_name(PLUGHOST_WIT_GUEST "#" name)))

HOST_IMPORT("log") extern void ph_host_log(int32_t level, const char *msg, size_t len);
HOST_IMPORT("register-callback") extern void ph_host_register(const char *name, size_t len, uint8_t *ret);
HOST_IMPORT("emit") extern void ph_host_emit(const char *name, size_t len, const uint8_t *data, size_t dlen, uint8_t *ret);
HOST_IMPORT("send")
extern void ph_host_send(const char *target, size_t tlen, const char *name, size_t len, const uint8_t *data, size_t dlen, uint8_t *ret);
HOST_IMPORT("get-config") extern void ph_host_get_config(uint8_t *ret);
HOST_IMPORT("define-metric")
extern void ph_host_define_metric(int32_t kind, const char *name, size_t len, const char *help, size_t hlen, const void *labels, size_t n, uint8_t *ret);
HOST_IMPORT("record-metric") extern void ph_host_record_metric(int32_t id, double value, const void *labels, size_t n, uint8_t *ret);
HOST_IMPORT("request")
extern void ph_host_request(const char *target, size_t tlen, const char *name, size_t len, const uint8_t *data, size_t dlen, uint32_t timeout_ms,
                            uint8_t *ret);
HOST_IMPORT("current-message") extern void ph_host_current_message(uint8_t *ret);
HOST_IMPORT("state-get") extern void ph_host_state_get(const char *key, size_t len, uint8_t *ret);
HOST_IMPORT("state-set") extern void ph_host_state_set(const char *key, size_t len, const uint8_t *value, size_t vlen, uint8_t *ret);
HOST_IMPORT("state-delete") extern void ph_host_state_delete(const char *key, size_t len, uint8_t *ret);
HOST_IMPORT("state-exists") extern void ph_host_state_exists(const char *key, size_t len, uint8_t *ret);
HOST_IMPORT("state-list-keys") extern void ph_host_state_list_keys(int32_t has_cursor, const char *cursor, size_t clen, uint32_t limit, uint8_t *ret);
HOST_IMPORT("state-increment") extern void ph_host_state_increment(const char *key, size_t len, int64_t delta, uint8_t *ret);
HOST_IMPORT("state-compare-and-swap")
extern void ph_host_state_cas(const char *key, size_t len, int32_t has_expected, const uint8_t *expected, size_t elen, const uint8_t *value, size_t vlen,
                              uint8_t *ret);
HOST_IMPORT("context-get") extern void ph_host_context_get(const char *key, size_t len, uint8_t *ret);
HOST_IMPORT("context-set") extern void ph_host_context_set(const char *key, size_t len, const char *value, size_t vlen, uint8_t *ret);

/* Arguments the host lowers for one call come from a small bump arena that
 * is reset when the call ends: two malloc/free pairs per dispatch cost more
 * than the rest of the call. Anything larger, or kept past the call (the
 * config string), lives on the heap. Every allocation gets one spare byte,
 * zeroed, so strings lowered by the host arrive NUL-terminated and can be
 * handed to C code as they are. */
#define ARENA_SIZE 4096
static _Alignas(16) char arena[ARENA_SIZE];
static size_t arena_top;
/* Set while the host lowers a value that outlives the call's arena (a request's answer, which the caller free()s;
 * the current message, released when the callback returns): cabi_realloc then allocates on the heap. */
static int heap_mode;

static inline int in_arena(const void *p) { return (const char *)p >= arena && (const char *)p < arena + ARENA_SIZE; }

/* A plugin with app-defined interfaces (PLUGHOST_NO_ARENA, set by the build when it links wit-bindgen's bindings)
 * never uses the arena: the arguments of its app exports and the results of its app imports belong to the plugin
 * until it frees them with the bindings' *_free functions (free()), and may outlive the call. */
#ifdef PLUGHOST_NO_ARENA
#define ARENA_ENABLED 0
#else
#define ARENA_ENABLED 1
#endif

__attribute__((export_name("cabi_realloc"))) void *cabi_realloc(void *ptr, size_t old_size, size_t align, size_t new_size) {
  if (new_size == 0) return (void *)align;
  if (ARENA_ENABLED && !ptr && !heap_mode) {
    size_t start = (arena_top + 15) & ~(size_t)15; /* 16 covers every canonical ABI alignment */
    if (new_size < ARENA_SIZE && start + new_size + 1 <= ARENA_SIZE) {
      arena_top = start + new_size + 1;
      arena[start + new_size] = 0;
      return arena + start;
    }
  }
  char *p;
  if (ptr && in_arena(ptr)) { /* growing an arena block: move it to the heap */
    p = malloc(new_size + 1);
    if (p) memcpy(p, ptr, old_size < new_size ? old_size : new_size);
  } else {
    p = realloc(ptr, new_size + 1);
  }
  if (!p) abort();
  p[new_size] = 0;
  return p;
}

/* The arena's layout, for a host that writes a call's arguments into it itself instead of calling cabi_realloc once
 * per argument (plughost's v8 engine does, for on-event and on-hook: each call into Wasm saved is tens of ns).
 * { layout version (1), arena address, arena size, address of arena_top }. The host places each argument as
 * cabi_realloc would (16-byte aligned, one zeroed spare byte) and stores the new top; a host that does not know
 * this export never calls it. */
#ifndef PLUGHOST_NO_ARENA
static uint32_t arena_layout[4];
/* Weak: a test plugin may replace it with one that lies (the host must not trust it). */
__attribute__((weak, export_name("plughost-c-sdk-arena"))) uint32_t *ph_arena_layout(void) {
  arena_layout[0] = 1;
  arena_layout[1] = (uint32_t)(uintptr_t)arena;
  arena_layout[2] = ARENA_SIZE;
  arena_layout[3] = (uint32_t)(uintptr_t)&arena_top;
  return arena_layout;
}
#endif

/* Zero-length strings and lists arrive with a dangling pointer: never free those. */
static inline void free_arg(void *p, size_t len) {
  if (len && !in_arena(p)) free(p);
}

/* The envelope plughost_current_message lowered during this callback (on the heap), kept until it returns. */
typedef struct {
  char *source, *target, *event_name;
  uint32_t *metadata; /* the lowered list: (key ptr, key len, value ptr, value len) per entry */
  uint32_t metadata_len;
  const char **strings; /* metadata_len keys, then metadata_len values */
  int held;
  PlughostMessageInfo info;
} HeldMessage;
static HeldMessage held;
static void message_release(void);
static inline void hook_ret_release(void);

/* The call's arguments are dead: reuse the arena for the next call (and drop the envelope a callback read). */
static inline void arena_reset(void) {
  arena_top = 0;
  if (held.held) message_release();
}

typedef struct {
  char *name;
  CallbackFn callback;
  HookFn hook;
} Entry;

static PluginContext ctx;
static Entry *entries;
static size_t n_entries, cap_entries;
static char *config_json;
static size_t last_hit;

static Entry *find(const char *name, size_t len) {
  if (last_hit < n_entries && strncmp(entries[last_hit].name, name, len) == 0 && entries[last_hit].name[len] == 0)
    return &entries[last_hit];
  for (size_t i = 0; i < n_entries; i++) {
    if (strncmp(entries[i].name, name, len) == 0 && entries[i].name[len] == 0) {
      last_hit = i;
      return &entries[i];
    }
  }
  return NULL;
}

static int32_t host_register(const char *name) {
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_register(name, strlen(name), ret);
  return ret[0] == 0 ? PLUGHOST_OK : PLUGHOST_REGISTER_STATUS((int32_t)ret[1]); /* register-error -> PLUGHOST_ERR_* */
}

static Entry *entry_for(const char *name) {
  size_t len = strlen(name);
  Entry *e = find(name, len);
  if (e) return e;
  if (n_entries == cap_entries) {
    size_t cap = cap_entries ? cap_entries * 2 : 8;
    Entry *grown = realloc(entries, cap * sizeof(Entry));
    if (!grown) return NULL;
    entries = grown;
    cap_entries = cap;
  }
  e = &entries[n_entries];
  e->name = strdup(name);
  if (!e->name) return NULL;
  e->callback = NULL;
  e->hook = NULL;
  n_entries++;
  return e;
}

static int32_t ctx_register_callback(PluginContext *context, const char *event_name, CallbackFn callback) {
  (void)context;
  if (!event_name || !callback) return PLUGHOST_ERR_INVALID_NAME;
  int32_t rc = host_register(event_name);
  if (rc != PLUGHOST_OK) return rc;
  Entry *e = entry_for(event_name);
  if (!e) return PLUGHOST_ERR_NO_MEMORY;
  e->callback = callback;
  return PLUGHOST_OK;
}

int32_t plughost_register_hook(PluginContext *context, const char *event_name, HookFn hook) {
  (void)context;
  if (!event_name || !hook) return PLUGHOST_ERR_INVALID_NAME;
  int32_t rc = host_register(event_name);
  if (rc != PLUGHOST_OK) return rc;
  Entry *e = entry_for(event_name);
  if (!e) return PLUGHOST_ERR_NO_MEMORY;
  e->hook = hook;
  return PLUGHOST_OK;
}

static void ctx_log(PluginContext *context, LogLevel level, const char *message) {
  (void)context;
  if (!message) return;
  ph_host_log((int32_t)level, message, strlen(message));
}

int32_t plughost_emit(const char *event_name, const uint8_t *data, uint32_t len) {
  uint32_t ret[2];
  ph_host_emit(event_name, strlen(event_name), data, len, (uint8_t *)ret);
  uint8_t *r = (uint8_t *)ret;
  return r[0] == 0 ? (int32_t)ret[1] : PLUGHOST_MESSAGE_STATUS((int32_t)r[4]);
}

int32_t plughost_send(const char *target, const char *event_name, const uint8_t *data, uint32_t len) {
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_send(target, strlen(target), event_name, strlen(event_name), data, len, ret);
  return ret[0] == 0 ? 0 : PLUGHOST_MESSAGE_STATUS((int32_t)ret[1]);
}

const char *plughost_config(void) { return config_json ? config_json : "{}"; }

/* ── metrics: list<string> is an array of (ptr, len) pairs ── */
#define PH_MAX_LABELS 16 /* the host reads no more (a longer list is refused unread) */

typedef struct {
  const char *ptr;
  size_t len;
} StrPair;

static int32_t str_list(const char *const *strings, uint32_t n, StrPair *out) {
  if (n > PH_MAX_LABELS) return 0;
  for (uint32_t i = 0; i < n; i++) {
    out[i].ptr = strings[i] ? strings[i] : "";
    out[i].len = strlen(out[i].ptr);
  }
  return 1;
}

int32_t plughost_metric_define(PlughostMetricKind kind, const char *name, const char *help, const char *const *label_names, uint32_t n_labels) {
  StrPair labels[PH_MAX_LABELS];
  if (!name || (n_labels && !label_names)) return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_INVALID_NAME);
  if (!str_list(label_names, n_labels, labels)) return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_LIMIT_REACHED);
  if (!help) help = "";
  uint32_t ret[2];
  ph_host_define_metric((int32_t)kind, name, strlen(name), help, strlen(help), labels, n_labels, (uint8_t *)ret);
  uint8_t *r = (uint8_t *)ret;
  return r[0] == 0 ? (int32_t)ret[1] : PLUGHOST_METRIC_ERR((int32_t)r[4]);
}

int32_t plughost_metric_record(int32_t id, double value, const char *const *label_values, uint32_t n_labels) {
  StrPair labels[PH_MAX_LABELS];
  if (n_labels && !label_values) return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_INVALID_LABELS);
  if (!str_list(label_values, n_labels, labels)) return PLUGHOST_METRIC_ERR(PLUGHOST_METRIC_ERROR_INVALID_LABELS);
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_record_metric(id, value, labels, n_labels, ret);
  return ret[0] == 0 ? 0 : PLUGHOST_METRIC_ERR((int32_t)ret[1]);
}

/* ── request: result<list<u8>, request-error> in a 12-byte return area (tag @0; ptr @4, len @8 or the code @4) ── */
int32_t plughost_request(const char *target, const char *event_name, const uint8_t *data, uint32_t len, uint32_t timeout_ms,
                         uint8_t **out, uint32_t *out_len) {
  if (!target || !event_name) return PLUGHOST_REQUEST_ERR(PLUGHOST_REQUEST_ERROR_INVALID_NAME);
  if (!data) len = 0;
  uint32_t ret[3];
  int was = heap_mode;
  heap_mode = 1; /* the answer is the caller's, to free() */
  ph_host_request(target, strlen(target), event_name, strlen(event_name), data, len, timeout_ms, (uint8_t *)ret);
  heap_mode = was;
  uint8_t *r = (uint8_t *)ret;
  if (r[0] != 0) return PLUGHOST_REQUEST_ERR((int32_t)r[4]);
  uint8_t *answer = ret[2] ? (uint8_t *)(uintptr_t)ret[1] : NULL; /* an empty list comes with a dangling pointer */
  if (out) *out = answer;
  else free(answer);
  if (out_len) *out_len = ret[2];
  return 0;
}

/* ── current-message: option<message-info> in an 80-byte return area, align 8 (layout in the WIT notes) ── */

static void free_lowered(void *p, uint32_t len) {
  if (len) free(p);
}

static void message_release(void) {
  free_lowered(held.source, held.source != NULL);
  free_lowered(held.target, held.target != NULL);
  free_lowered(held.event_name, held.event_name != NULL);
  for (uint32_t i = 0; i < held.metadata_len; i++) {
    free_lowered((void *)(uintptr_t)held.metadata[i * 4], held.metadata[i * 4 + 1]);
    free_lowered((void *)(uintptr_t)held.metadata[i * 4 + 2], held.metadata[i * 4 + 3]);
  }
  free_lowered(held.metadata, held.metadata_len);
  free(held.strings);
  memset(&held, 0, sizeof held);
}

/* A lowered string: its heap copy, NUL-terminated by cabi_realloc's spare byte; NULL when empty (no allocation). */
static char *lowered(uint32_t ptr, uint32_t len) { return len ? (char *)(uintptr_t)ptr : NULL; }

/* The envelope does not change during a callback: the first call lowers it, later ones answer from the copy. */
int32_t plughost_current_message(PlughostMessageInfo *out) {
  if (held.held) {
    if (out) *out = held.info;
    return 1;
  }
  uint64_t area[10];
  uint8_t *r = (uint8_t *)area;
  int was = heap_mode;
  heap_mode = 1;
  ph_host_current_message(r);
  heap_mode = was;
  if (r[0] == 0) return 0;
  const uint8_t *m = r + 8;
#define U32(off) (*(const uint32_t *)(m + (off)))
  held.held = 1;
  held.source = m[24] ? lowered(U32(28), U32(32)) : NULL;
  held.target = m[36] ? lowered(U32(40), U32(44)) : NULL;
  held.event_name = lowered(U32(48), U32(52));
  held.metadata_len = U32(64);
  held.metadata = held.metadata_len ? (uint32_t *)(uintptr_t)U32(60) : NULL;
  if (held.metadata_len) {
    held.strings = malloc(sizeof(char *) * 2 * held.metadata_len);
    if (!held.strings) abort();
    for (uint32_t i = 0; i < held.metadata_len; i++) {
      char *k = lowered(held.metadata[i * 4], held.metadata[i * 4 + 1]);
      char *v = lowered(held.metadata[i * 4 + 2], held.metadata[i * 4 + 3]);
      held.strings[i] = k ? k : "";
      held.strings[held.metadata_len + i] = v ? v : "";
    }
  }
  PlughostMessageInfo *info = &held.info;
  info->id = *(const uint64_t *)m;
  info->has_parent = m[8] != 0;
  info->parent_id = m[8] ? *(const uint64_t *)(m + 16) : 0;
  /* option<string>: some("") has no allocation either */
  info->source = m[24] ? (held.source ? held.source : "") : NULL;
  info->target = m[36] ? (held.target ? held.target : "") : NULL;
  info->event_name = held.event_name ? held.event_name : "";
  info->kind = m[56];
  info->metadata_len = held.metadata_len;
  info->metadata_keys = held.strings;
  info->metadata_values = held.strings ? held.strings + held.metadata_len : NULL;
#undef U32
  if (out) *out = *info;
  return 1;
}

/*
 * ── state and context ──
 * Return areas (canonical ABI): result<option<list<u8>>, E> and result<option<string>, E> are 16 bytes, align 4
 * (tag @0; option tag @4, ptr @8, len @12; or the error code @4). result<_, E> and result<bool, E> are 2 bytes
 * (tag @0, bool or code @1). result<s64, E>: 16 bytes, align 8 (tag @0, value or code @8). result<key-page, E>:
 * 24 bytes, align 4 (tag @0; keys ptr @4, len @8; cursor tag @12, ptr @16, len @20; or the code @4).
 * Whatever the host lowers for them is the caller's (heap_mode), NUL-terminated by cabi_realloc's spare byte.
 */
#define STATE_KEY_OK(key) ((key) != NULL)

/* result<option<list<u8>|string>, E>: 1 and the block (NULL when empty), 0 for none, or -1 - code. */
static int32_t lift_option_bytes(const uint32_t *ret, uint8_t **out, uint32_t *out_len) {
  const uint8_t *r = (const uint8_t *)ret;
  if (r[0] != 0) return -1 - (int32_t)r[4];
  if (r[4] == 0) return 0;
  uint8_t *p = ret[3] ? (uint8_t *)(uintptr_t)ret[2] : NULL; /* an empty list comes with a dangling pointer */
  if (out) *out = p;
  else free(p);
  if (out_len) *out_len = ret[3];
  return 1;
}

int32_t plughost_state_get(const char *key, uint8_t **out, uint32_t *out_len) {
  if (!STATE_KEY_OK(key)) return PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_INVALID_KEY);
  uint32_t ret[4];
  int was = heap_mode;
  heap_mode = 1; /* the value is the caller's, to free() */
  ph_host_state_get(key, strlen(key), (uint8_t *)ret);
  heap_mode = was;
  int32_t rc = lift_option_bytes(ret, out, out_len);
  if (rc == 0) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
  }
  return rc;
}

int32_t plughost_state_set(const char *key, const uint8_t *value, uint32_t len) {
  if (!STATE_KEY_OK(key)) return PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_INVALID_KEY);
  if (!value) len = 0;
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_state_set(key, strlen(key), value, len, ret);
  return ret[0] == 0 ? 0 : PLUGHOST_STATE_ERR((int32_t)ret[1]);
}

/* result<bool, E>: 1 or 0, or -1 - code. */
static inline int32_t lift_bool(const uint8_t *ret) { return ret[0] == 0 ? (ret[1] != 0) : PLUGHOST_STATE_ERR((int32_t)ret[1]); }

int32_t plughost_state_delete(const char *key) {
  if (!STATE_KEY_OK(key)) return PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_INVALID_KEY);
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_state_delete(key, strlen(key), ret);
  return lift_bool(ret);
}

int32_t plughost_state_exists(const char *key) {
  if (!STATE_KEY_OK(key)) return PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_INVALID_KEY);
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_state_exists(key, strlen(key), ret);
  return lift_bool(ret);
}

int32_t plughost_state_increment(const char *key, int64_t delta, int64_t *value) {
  if (!STATE_KEY_OK(key)) return PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_INVALID_KEY);
  uint64_t ret[2];
  ph_host_state_increment(key, strlen(key), delta, (uint8_t *)ret);
  const uint8_t *r = (const uint8_t *)ret;
  if (r[0] != 0) return PLUGHOST_STATE_ERR((int32_t)r[8]);
  if (value) *value = (int64_t)ret[1];
  return 0;
}

int32_t plughost_state_cas(const char *key, const uint8_t *expected, uint32_t expected_len, const uint8_t *value, uint32_t len) {
  if (!STATE_KEY_OK(key)) return PLUGHOST_STATE_ERR(PLUGHOST_STATE_ERROR_INVALID_KEY);
  if (!value) len = 0;
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_state_cas(key, strlen(key), expected != NULL, expected, expected ? expected_len : 0, value, len, ret);
  return lift_bool(ret);
}

/* A lowered string as a NUL-terminated heap copy (cabi_realloc gave it its spare byte); "" has no block: strdup. */
static char *owned_string(uint32_t ptr, uint32_t len) {
  char *s = len ? (char *)(uintptr_t)ptr : strdup("");
  if (!s) abort();
  return s;
}

int32_t plughost_state_list_keys(const char *cursor, uint32_t limit, PlughostKeyPage *page) {
  uint32_t ret[6];
  int was = heap_mode;
  heap_mode = 1; /* the page is the caller's until plughost_key_page_free */
  ph_host_state_list_keys(cursor != NULL, cursor, cursor ? strlen(cursor) : 0, limit, (uint8_t *)ret);
  heap_mode = was;
  const uint8_t *r = (const uint8_t *)ret;
  if (r[0] != 0) return PLUGHOST_STATE_ERR((int32_t)r[4]);
  uint32_t n = ret[2];
  /* The lowered list is n (ptr, len) pairs; its block is reused in place for the n char pointers (4 bytes each on
   * wasm32, written at or before the pair they come from, so nothing unread is overwritten). */
  uint32_t *pairs = n ? (uint32_t *)(uintptr_t)ret[1] : NULL;
  char **keys = (char **)pairs;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t p = pairs[2 * i], l = pairs[2 * i + 1];
    keys[i] = owned_string(p, l);
  }
  char *next = r[12] ? owned_string(ret[4], ret[5]) : NULL;
  if (page) {
    page->keys = keys;
    page->len = n;
    page->cursor = next;
  } else {
    PlughostKeyPage tmp = {keys, n, next};
    plughost_key_page_free(&tmp);
  }
  return (int32_t)n;
}

void plughost_key_page_free(PlughostKeyPage *page) {
  if (!page) return;
  for (uint32_t i = 0; i < page->len; i++) free(page->keys[i]);
  free(page->keys);
  free(page->cursor);
  page->keys = NULL;
  page->len = 0;
  page->cursor = NULL;
}

int32_t plughost_context_get(const char *key, char **json) {
  if (!key) return PLUGHOST_CONTEXT_ERR(PLUGHOST_CONTEXT_ERROR_UNKNOWN_KEY);
  uint32_t ret[4];
  int was = heap_mode;
  heap_mode = 1;
  ph_host_context_get(key, strlen(key), (uint8_t *)ret);
  heap_mode = was;
  const uint8_t *r = (const uint8_t *)ret;
  if (r[0] != 0) return PLUGHOST_CONTEXT_ERR((int32_t)r[4]);
  if (r[4] == 0) {
    if (json) *json = NULL;
    return 0;
  }
  char *s = owned_string(ret[2], ret[3]);
  if (json) *json = s;
  else free(s);
  return 1;
}

int32_t plughost_context_set(const char *key, const char *json) {
  if (!key) return PLUGHOST_CONTEXT_ERR(PLUGHOST_CONTEXT_ERROR_UNKNOWN_KEY);
  if (!json) return PLUGHOST_CONTEXT_ERR(PLUGHOST_CONTEXT_ERROR_INVALID_VALUE);
  uint8_t ret[2] __attribute__((aligned(4)));
  ph_host_context_set(key, strlen(key), json, strlen(json), ret);
  return ret[0] == 0 ? 0 : PLUGHOST_CONTEXT_ERR((int32_t)ret[1]);
}

/* ── hook output: owned here until the next on-hook call (or teardown) ── */
static uint8_t *hook_out;
static uint32_t hook_out_len;
static int hook_out_set;

int32_t plughost_hook_output(const uint8_t *data, uint32_t len) {
  uint8_t *p = len ? malloc(len) : NULL;
  if (len && !p) return PLUGHOST_ERR_NO_MEMORY;
  if (len) memcpy(p, data, len);
  free(hook_out);
  hook_out = p;
  hook_out_len = len;
  hook_out_set = 1;
  return PLUGHOST_OK;
}

static uint32_t parse_version(const char *s) {
  unsigned part[3] = {0, 0, 0};
  for (int i = 0; i < 3 && *s; i++) {
    while (*s >= '0' && *s <= '9') part[i] = part[i] * 10 + (unsigned)(*s++ - '0');
    if (*s == '.') s++;
    else break;
  }
  return (part[0] << 16) | ((part[1] & 0xff) << 8) | (part[2] & 0xff);
}

/* Keep a lowered config string as plughost_config()'s answer (off the arena: it outlives the call). */
static void keep_config(char *config, size_t config_len) {
  free(config_json);
  config_json = NULL;
  if (config_len && in_arena(config)) {
    config_json = malloc(config_len + 1);
    if (!config_json) abort();
    memcpy(config_json, config, config_len + 1);
  } else if (config_len) {
    config_json = config; /* kept: NUL-terminated by cabi_realloc */
  }
}

GUEST_EXPORT("init") int32_t ph_init(char *api, size_t api_len, char *config, size_t config_len) {
  ctx.api_version = api_len ? parse_version(api) : 0;
  ctx.host_data = NULL;
  ctx.plugin_data = NULL;
  ctx.register_callback = ctx_register_callback;
  ctx.log = ctx_log;
  free_arg(api, api_len);
  keep_config(config, config_len);
  arena_reset();
  int32_t rc = plugin_init(&ctx);
  if (held.held) message_release(); /* a host that answered an envelope in init: not the next call's */
  return rc;
}

GUEST_EXPORT("teardown") int32_t ph_teardown(void) {
  if (held.held) message_release();
  hook_ret_release();
  return plugin_teardown(&ctx);
}

#ifdef PLUGHOST_LIFECYCLE
/* The optional lifecycle interface: the build defines PLUGHOST_LIFECYCLE when the plugin defines plugin_suspend or
 * plugin_resume. Weak, so a plugin that defines only one of them links; the other answers 0. */
#pragma weak plugin_suspend
#pragma weak plugin_resume
#define LIFECYCLE_EXPORT(name) __attribute__((export_name(PLUGHOST_WIT_LIFECYCLE "#" name)))

LIFECYCLE_EXPORT("on-suspend") int32_t ph_on_suspend(void) {
  if (held.held) message_release();
  return plugin_suspend ? plugin_suspend(&ctx) : 0;
}

LIFECYCLE_EXPORT("on-resume") int32_t ph_on_resume(void) {
  if (held.held) message_release();
  return plugin_resume ? plugin_resume(&ctx) : 0;
}
#endif

#ifdef PLUGHOST_CONFIG_WATCH
/* The optional config-watch interface: the build defines PLUGHOST_CONFIG_WATCH when the plugin defines
 * plugin_config_changed. plughost_config() answers the new configuration from now on. */
#define CONFIG_WATCH_EXPORT(name) __attribute__((export_name(PLUGHOST_WIT_CONFIG_WATCH "#" name)))

CONFIG_WATCH_EXPORT("on-config-changed") int32_t ph_on_config_changed(char *config, size_t config_len) {
  if (held.held) message_release();
  keep_config(config, config_len);
  arena_reset();
  int32_t rc = plugin_config_changed(&ctx, plughost_config());
  if (held.held) message_release();
  return rc;
}
#endif

#ifdef PLUGHOST_HANDOFF
/* The optional handoff interface: the build defines PLUGHOST_HANDOFF when the plugin defines plugin_snapshot or
 * plugin_restore. Weak, as the lifecycle pair: a missing snapshot carries nothing, a missing restore answers 0. */
#pragma weak plugin_snapshot
#pragma weak plugin_restore
#define HANDOFF_EXPORT(name) __attribute__((export_name(PLUGHOST_WIT_HANDOFF "#" name)))

/* list<u8>: (ptr, len). The snapshot is freed by the post-return, or by the next snapshot for a host that skips it. */
static uint32_t snapshot_ret[2];
static uint8_t *snapshot_owned;

HANDOFF_EXPORT("snapshot") uint32_t *ph_snapshot(void) {
  if (held.held) message_release();
  free(snapshot_owned);
  snapshot_owned = NULL;
  uint8_t *out = NULL;
  uint32_t n = plugin_snapshot ? plugin_snapshot(&ctx, &out) : 0;
  if (held.held) message_release();
  if (n == 0 || out == NULL) {
    free(out);
    snapshot_ret[0] = 1; /* an empty list's dangling pointer */
    snapshot_ret[1] = 0;
  } else {
    snapshot_owned = out;
    snapshot_ret[0] = (uint32_t)(uintptr_t)out;
    snapshot_ret[1] = n;
  }
  return snapshot_ret;
}

__attribute__((export_name("cabi_post_" PLUGHOST_WIT_HANDOFF "#snapshot"))) void ph_snapshot_post(uint32_t *ret) {
  (void)ret;
  free(snapshot_owned);
  snapshot_owned = NULL;
}

HANDOFF_EXPORT("restore") int32_t ph_restore(uint8_t *data, size_t len) {
  if (held.held) message_release();
  int32_t rc = plugin_restore ? plugin_restore(&ctx, len ? data : NULL, (uint32_t)len) : 0;
  free_arg(data, len);
  arena_reset();
  return rc;
}
#endif

GUEST_EXPORT("on-event") int32_t ph_on_event(char *name, size_t name_len, uint8_t *data, size_t data_len) {
  Entry *e = find(name, name_len);
  int32_t rc = -1;
  if (e && e->callback) rc = e->callback(&ctx, (const char *)data, (uint32_t)data_len);
  free_arg(name, name_len);
  free_arg(data, data_len);
  arena_reset();
  return rc;
}

/* result<list<u8>, s32>: discriminant at 0, then (ptr, len) or the status at 4. No post-return: the host reads the
 * result before it calls this instance again, so the output is kept until the next call (or teardown) and freed
 * then; one crossing per hook less. */
static uint32_t hook_ret[3];
static uint8_t *hook_ret_owned;

static inline void hook_ret_release(void) {
  if (hook_ret_owned) {
    free_arg(hook_ret_owned, 1);
    hook_ret_owned = NULL;
  }
}

GUEST_EXPORT("on-hook") uint32_t *ph_on_hook(char *name, size_t name_len, uint8_t *data, size_t data_len) {
  hook_ret_release();
  Entry *e = find(name, name_len);
  int32_t rc = -1;
  hook_out_set = 0;
  if (e && e->hook) rc = e->hook(&ctx, name, data, (uint32_t)data_len);
  else if (e && e->callback) rc = e->callback(&ctx, (const char *)data, (uint32_t)data_len);
  free_arg(name, name_len);
  if (rc != 0) {
    free_arg(data, data_len);
    arena_reset();
    hook_ret[0] = 1;
    hook_ret[1] = (uint32_t)rc;
    return hook_ret;
  }
  hook_ret[0] = 0;
  if (hook_out_set) {
    free_arg(data, data_len);
    hook_ret[1] = (uint32_t)(uintptr_t)hook_out;
    hook_ret[2] = hook_out_len;
    hook_ret_owned = hook_out;
    hook_out = NULL;
  } else { /* pass the input through: it is ours to free after the host has read it */
    hook_ret[1] = (uint32_t)(uintptr_t)data;
    hook_ret[2] = (uint32_t)data_len;
    hook_ret_owned = data_len ? data : NULL;
  }
  /* The arguments are dead once the host has read the result, which it does before anything is placed here again
   * (an output passed through from the arena stays readable until then). */
  arena_reset();
  return hook_ret;
}
