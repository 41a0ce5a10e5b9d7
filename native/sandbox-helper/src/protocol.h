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
 * EMIT and SEND (PH_BODY_MAX). The supervisor's channel (fd 7) carries only
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
};

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
  PH_HAS_NAME = 1u << 16,
  PH_HAS_VERSION = 1u << 17,
  PH_HAS_API = 1u << 18,
};

#endif
