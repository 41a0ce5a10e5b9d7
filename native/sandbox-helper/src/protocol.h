/*
 * The helper's wire protocol (mirrored in src/engines/native-protocol.ts).
 *
 * Every frame: u32 body_len (little-endian), then the body:
 *   u8 type, u32 id, payload (body_len - 5 bytes).
 * The host numbers its requests; the helper answers with the same id. The
 * helper's own requests (register, emit, send) carry ids with the top bit
 * set and the host answers them with PH_REPLY.
 *
 * The host bounds each frame's body while reading: 64 KiB, except HOOK_RESULT,
 * EMIT, SEND and REQUEST (PH_BODY_MAX). REQUEST and MESSAGE are answered with
 * ANSWER (i32 code, bytes) instead of REPLY, later: the helper's main thread
 * waits for it, serving nothing else, while the host's JS thread goes on. The supervisor's channel (fd 7) carries only
 * VIOLATION frames (count 1 each); the host answers each with one byte.
 */
#ifndef PLUGHOST_HELPER_PROTOCOL_H
#define PLUGHOST_HELPER_PROTOCOL_H

#define PH_HEADER 9u
#define PH_BODY_MAX (64u << 20)
#define PH_HELPER_ID_BIT 0x80000000u

enum {
  /* host -> helper */
  PH_INIT = 1,     /* u32 api_version, config JSON bytes           -> RESULT */
  PH_CALL = 2,     /* u32 callback id, event bytes                 -> RESULT */
  PH_HOOK = 3,     /* u32 callback id, event bytes                 -> HOOK_RESULT */
  PH_TEARDOWN = 4, /*                                              -> RESULT */
  PH_REPLY = 5,    /* i32 value: answer to a helper request */
  PH_ANSWER = 6,   /* i32 code, bytes: answer to REQUEST (0 + the answer, or 1 + request-error) or MESSAGE (1 + info, or 0) */
  PH_SUSPEND = 7,  /* the optional plugin_suspend                  -> RESULT */
  PH_RESUME = 8,   /* the optional plugin_resume                   -> RESULT */
  PH_CONFIG_CHANGED = 9, /* the optional plugin_config_changed: config JSON bytes -> RESULT */
  PH_SNAPSHOT = 10,      /* the optional plugin_snapshot              -> SNAPSHOT_RESULT */
  PH_RESTORE = 11,       /* the optional plugin_restore: snapshot bytes -> RESULT */
  /* helper -> host */
  PH_READY = 64,       /* u32 flags, u32 api, name\0 version\0 */
  PH_FAIL = 65,        /* u8 kind, message */
  PH_RESULT = 66,      /* i32 status */
  PH_HOOK_RESULT = 67, /* i32 status, u8 has_output, output bytes */
  PH_LOG = 68,         /* u8 level, message */
  PH_REGISTER = 69,    /* u8 is_hook, u32 callback id, name  -> REPLY(register code) */
  PH_EMIT = 70,        /* name\0, data                       -> REPLY */
  PH_SEND = 71,        /* target\0, name\0, data             -> REPLY */
  PH_VIOLATION = 72,   /* u32 count, syscall name */
  PH_SANDBOX = 73,     /* u32 flags: the measures in force; the first frame, sent before any plugin code runs */
  PH_REQUEST = 74,     /* u32 timeout_ms, target\0, name\0, data -> ANSWER */
  PH_MESSAGE = 75,     /* (empty): the current call's envelope  -> ANSWER */
  PH_STATE = 76,       /* u8 op (PH_STATE_*), the op's payload   -> ANSWER */
  PH_CONTEXT = 77,     /* u8 op (PH_CONTEXT_*), key\0, json       -> ANSWER */
  PH_SNAPSHOT_RESULT = 78, /* i32 status (0, or -1: too large for a frame), snapshot bytes */
  PH_METRIC = 79,      /* u8 op (PH_METRIC_*), the op's payload  -> ANSWER */
};

/*
 * STATE ops and their payloads after the op byte; the ANSWER's code is the C function's (plughost.h):
 *   GET       key\0                                   1 + the value, 0, or PLUGHOST_STATE_ERR
 *   SET       key\0, value                            0 or error
 *   DELETE    key\0                                   1 / 0 or error
 *   EXISTS    key\0                                   1 / 0 or error
 *   INCREMENT i64 delta, key\0                        0 + i64 value, or error
 *   CAS       u8 has_expected, u32 expected_len, key\0, expected, value    1 / 0 or error
 *   LIST      u32 limit, u8 has_cursor, cursor\0      n_keys + the page (plughost_host.h), or error
 * CONTEXT ops: GET key\0 (1 + the JSON, 0, or PLUGHOST_CONTEXT_ERR); SET key\0, json (0 or error).
 * Keys and values are within plughost_host.h's PLUGHOST_NATIVE_*_MAX: the helper refuses longer ones before
 * sending, and the host refuses frames that are not (the plugin can write frames of its own).
 */
enum { PH_STATE_GET = 1, PH_STATE_SET, PH_STATE_DELETE, PH_STATE_EXISTS, PH_STATE_INCREMENT, PH_STATE_CAS, PH_STATE_LIST };
enum { PH_CONTEXT_GET = 1, PH_CONTEXT_SET };
/*
 * METRIC ops and their payloads after the op byte; the ANSWER's code is the C function's (plughost.h):
 *   DEFINE  u8 kind, u8 n_labels, name\0, help\0, n_labels label names\0     the id (>= 0) or PLUGHOST_METRIC_ERR
 *   RECORD  u8 n_labels, u32 id, f64 value (LE), n_labels label values\0    0 or PLUGHOST_METRIC_ERR
 * Within plughost_host.h's PLUGHOST_NATIVE_METRIC_* bounds (kind < 3, n_labels <= 16): the helper refuses the
 * rest before sending; the host answers a string past its bound with the error the SDK gives, and takes a
 * frame that breaks the layout (a bad kind, too many labels, a missing NUL, bytes left over) as a protocol break.
 */
enum { PH_METRIC_DEFINE = 1, PH_METRIC_RECORD };
#define PH_METRIC_BODY_MAX ((16u << 10) + 4096u)
/* The host's bound on a STATE and a CONTEXT frame's body (two values, a key and the head fit). */
#define PH_STATE_BODY_MAX ((2u << 20) + 4096u)
#define PH_CONTEXT_BODY_MAX ((1u << 20) + 4096u)

enum { PH_FAIL_DLOPEN = 1, PH_FAIL_SYMBOL = 2, PH_FAIL_SANDBOX = 3 };

/* READY flags: which sandbox measures are in force. */
enum {
  PH_SB_USERNS = 1u << 0,
  PH_SB_NETNS = 1u << 1,
  PH_SB_PIDNS = 1u << 2,
  PH_SB_MNTNS = 1u << 3,
  PH_SB_IPCNS = 1u << 4,
  PH_SB_UTSNS = 1u << 5,
  PH_SB_SETUID = 1u << 6,
  PH_SB_NO_NEW_PRIVS = 1u << 7,
  PH_SB_SECCOMP = 1u << 8,
  PH_SB_RLIMITS = 1u << 9,
  PH_SB_LIBSECCOMP = 1u << 10,
  PH_SB_ROOT = 1u << 11, /* a private root: only the library and the libraries it links */
  PH_SB_OWN_UID = 1u << 12, /* root: the plugin runs as a uid of this helper alone */
  PH_SB_SUPERVISED = 1u << 13, /* denials are answered and reported by init, on fd 7 */
  PH_SB_CGROUP = 1u << 14, /* the helper joined the cgroup v2 group the host made (memory, pids, cpu) */
  PH_HAS_NAME = 1u << 16,
  PH_HAS_VERSION = 1u << 17,
  PH_HAS_API = 1u << 18,
  PH_HAS_SUSPEND = 1u << 19, /* the library defines plugin_suspend */
  PH_HAS_RESUME = 1u << 20,  /* ... and plugin_resume */
  PH_HAS_CONFIG_CHANGED = 1u << 21, /* the library defines plugin_config_changed */
  PH_HAS_SNAPSHOT = 1u << 22,       /* ... plugin_snapshot */
  PH_HAS_RESTORE = 1u << 23,        /* ... plugin_restore */
};

/*
 * The encoding of a message-info (the envelope current_message answers), from
 * the host (src/engines/native/shared.ts, encodeMessageInfo) to the addon and
 * the helper, little-endian:
 *   u32 flags (PH_MI_PARENT | PH_MI_SOURCE | PH_MI_TARGET), u32 kind,
 *   u32 id_lo, u32 id_hi, u32 parent_lo, u32 parent_hi, u32 n_metadata,
 *   then strings as u32 len, bytes, NUL: source (when flagged), target (when
 *   flagged), event name, then n_metadata pairs of key, value.
 * ph_message_info_decode checks every length and returns one malloc'd block
 * (free() it) holding the PlughostMessageInfo, its arrays and its strings, or
 * NULL when the bytes are malformed or memory is short.
 */
#include <stdlib.h>
#include <string.h>

#include "plughost.h"

enum { PH_MI_PARENT = 1u, PH_MI_SOURCE = 2u, PH_MI_TARGET = 4u };
#define PH_MI_HEAD 28u

typedef struct {
  PlughostMessageInfo info;
} PhMessageBox;

static inline uint32_t ph_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walk one string at *off; its offset in *at. 0 when it does not fit or lacks its NUL. */
static inline int ph_mi_string(const uint8_t *buf, uint32_t len, uint32_t *off, uint32_t *at) {
  if (len - *off < 4) return 0;
  uint32_t n = ph_le32(buf + *off);
  if (n > len - *off - 4 || len - *off - 4 - n < 1 || buf[*off + 4 + n] != 0) return 0;
  *at = *off + 4;
  *off += 4 + n + 1;
  return 1;
}

static inline PhMessageBox *ph_message_info_decode(const uint8_t *buf, uint32_t len) {
  if (!buf || len < PH_MI_HEAD) return NULL;
  uint32_t flags = ph_le32(buf), n = ph_le32(buf + 24);
  uint32_t strings = (flags & PH_MI_SOURCE ? 1u : 0u) + (flags & PH_MI_TARGET ? 1u : 0u) + 1u;
  if (n > (len - PH_MI_HEAD) / 10u) return NULL; /* each pair takes at least 10 bytes */
  uint32_t off = PH_MI_HEAD, at;
  for (uint32_t i = 0; i < strings + 2u * n; i++)
    if (!ph_mi_string(buf, len, &off, &at)) return NULL;
  size_t arrays = sizeof(PhMessageBox) + 2u * (size_t)n * sizeof(const char *);
  PhMessageBox *box = (PhMessageBox *)malloc(arrays + len);
  if (!box) return NULL;
  const char **keys = (const char **)(void *)(box + 1);
  const char **values = keys + n;
  char *copy = (char *)box + arrays;
  memcpy(copy, buf, len);
  PlughostMessageInfo *mi = &box->info;
  memset(mi, 0, sizeof *mi);
  mi->id = (uint64_t)ph_le32(buf + 8) | (uint64_t)ph_le32(buf + 12) << 32;
  mi->has_parent = (flags & PH_MI_PARENT) != 0;
  mi->parent_id = mi->has_parent ? ((uint64_t)ph_le32(buf + 16) | (uint64_t)ph_le32(buf + 20) << 32) : 0;
  mi->kind = ph_le32(buf + 4);
  off = PH_MI_HEAD;
  if (flags & PH_MI_SOURCE) ph_mi_string(buf, len, &off, &at), mi->source = copy + at;
  if (flags & PH_MI_TARGET) ph_mi_string(buf, len, &off, &at), mi->target = copy + at;
  ph_mi_string(buf, len, &off, &at);
  mi->event_name = copy + at;
  for (uint32_t i = 0; i < n; i++) {
    ph_mi_string(buf, len, &off, &at);
    keys[i] = copy + at;
    ph_mi_string(buf, len, &off, &at);
    values[i] = copy + at;
  }
  mi->metadata_len = n;
  mi->metadata_keys = n ? keys : NULL;
  mi->metadata_values = n ? values : NULL;
  return box;
}

/* Whether buf[0, n) is well-formed UTF-8 (keys cross as JS strings: a malformed one would be changed, not refused). */
static inline int ph_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? (c <= 0xef ? 2 : 0) : c >= 0xc2 ? 1 : 0;
    if (!k || n - i <= k) return 0;
    uint32_t cp = c & (0x3f >> k);
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    i += k + 1;
  }
  return 1;
}

#endif
