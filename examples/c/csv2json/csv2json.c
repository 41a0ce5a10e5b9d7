/* csv2json: a hook that turns CSV (RFC 4180) into JSON.
 *
 *   hook  "csv2json": CSV bytes -> JSON. The first record is the header, so
 *         the output is an array of objects (`[{"name":"Ann","age":"30"}]`);
 *         with config `{"header": false}` it is an array of arrays.
 *   event "csv2json": the number of data records, or the error status.
 *
 * Fields may be quoted; inside quotes, `""` is a quote and commas, CR and LF
 * are data. Records end with LF or CRLF; blank lines are skipped. Every value
 * is a JSON string. Errors (the hook's err status, also logged at warn with
 * the record number):
 *   1  a quoted field is not closed before the end of the input
 *   2  a record has a different number of fields than the header
 *   3  something other than a comma or a line end follows a closing quote
 *   4  the input is not valid UTF-8
 *   5  out of memory
 */
#include <plughost.h>

#include <stdlib.h>
#include <string.h>

enum { ERR_UNTERMINATED = 1, ERR_FIELD_COUNT = 2, ERR_AFTER_QUOTE = 3, ERR_UTF8 = 4, ERR_NO_MEMORY = 5 };

typedef struct {
  uint8_t *p;
  size_t len, cap;
  int oom;
} Buf;

static void put(Buf *b, const void *data, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
}

static void putc1(Buf *b, uint8_t c) { put(b, &c, 1); }

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 as is. */
static void put_json_string(Buf *b, const uint8_t *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  putc1(b, '"');
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (c == '"' || c == '\\') {
      putc1(b, '\\');
      putc1(b, c);
    } else if (c == '\n') {
      put(b, "\\n", 2);
    } else if (c == '\r') {
      put(b, "\\r", 2);
    } else if (c == '\t') {
      put(b, "\\t", 2);
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(b, esc, sizeof esc);
    } else {
      putc1(b, c);
    }
  }
  putc1(b, '"');
}

static int valid_utf8(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07;
    } else {
      return 0;
    }
    if (i + extra >= n) return 0; /* truncated sequence */
    for (size_t k = 1; k <= extra; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += extra + 1;
  }
  return 1;
}

/* One field, unescaped: a view into the input, or (quoted with "") a copy in `scratch`. */
typedef struct {
  const uint8_t *p;
  size_t len;
} Field;

typedef struct {
  Field *fields;
  size_t n, cap;
  Buf scratch; /* unescaped text of quoted fields; offsets, fixed up after the record */
  size_t *scratch_at; /* per field: offset into scratch, or SIZE_MAX when p points into the input */
} Record;

static int push_field(Record *r, const uint8_t *p, size_t len, size_t scratch_at) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 16;
    Field *f = realloc(r->fields, cap * sizeof *f);
    if (!f) return 0;
    r->fields = f;
    size_t *a = realloc(r->scratch_at, cap * sizeof *a);
    if (!a) return 0;
    r->scratch_at = a;
    r->cap = cap;
  }
  r->fields[r->n] = (Field){p, len};
  r->scratch_at[r->n] = scratch_at;
  r->n++;
  return 1;
}

/* Parse one record starting at *pos; returns 0 or an error. *pos ends past the line end. */
static int parse_record(const uint8_t *s, size_t n, size_t *pos, Record *r) {
  size_t i = *pos;
  r->n = 0;
  r->scratch.len = 0;
  for (;;) {
    if (i < n && s[i] == '"') {
      size_t at = r->scratch.len;
      i++;
      for (;;) {
        if (i >= n) return ERR_UNTERMINATED;
        if (s[i] == '"') {
          if (i + 1 < n && s[i + 1] == '"') {
            putc1(&r->scratch, '"');
            i += 2;
            continue;
          }
          i++;
          break;
        }
        size_t start = i;
        while (i < n && s[i] != '"') i++;
        put(&r->scratch, s + start, i - start);
      }
      if (r->scratch.oom || !push_field(r, NULL, r->scratch.len - at, at)) return ERR_NO_MEMORY;
      if (i < n && s[i] != ',' && s[i] != '\n' && !(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') && !(s[i] == '\r' && i + 1 == n))
        return ERR_AFTER_QUOTE;
    } else {
      size_t start = i;
      while (i < n && s[i] != ',' && s[i] != '\n') i++;
      size_t end = i;
      if (end > start && s[end - 1] == '\r' && (end == n || s[end] == '\n')) end--; /* CRLF */
      if (!push_field(r, s + start, end - start, SIZE_MAX)) return ERR_NO_MEMORY;
    }
    if (i < n && s[i] == ',') {
      i++;
      continue;
    }
    if (i < n && s[i] == '\r') i++;
    if (i < n && s[i] == '\n') i++;
    break;
  }
  for (size_t k = 0; k < r->n; k++)
    if (r->scratch_at[k] != SIZE_MAX) r->fields[k].p = r->scratch.p + r->scratch_at[k];
  *pos = i;
  return 0;
}

static int header_mode(void) { return strstr(plughost_config(), "\"header\":false") == NULL; }

/* Convert; on success `out` holds the JSON and *records the number of data records. */
static int convert(PluginContext *ctx, const uint8_t *s, size_t n, Buf *out, int32_t *records) {
  if (n >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) s += 3, n -= 3; /* a UTF-8 byte-order mark */
  int header = header_mode();
  Record head = {0}, row = {0};
  size_t pos = 0, record = 0;
  int rc = 0, have_header = 0;
  *records = 0;
  putc1(out, '[');
  if (!valid_utf8(s, n)) rc = ERR_UTF8;
  while (!rc && pos < n) {
    if (s[pos] == '\n' || (s[pos] == '\r' && pos + 1 < n && s[pos + 1] == '\n')) { /* a blank line */
      pos += s[pos] == '\r' ? 2 : 1;
      continue;
    }
    record++;
    Record *r = header && !have_header ? &head : &row;
    rc = parse_record(s, n, &pos, r);
    if (rc) break;
    if (r == &head) {
      have_header = 1;
      continue;
    }
    if (header && row.n != head.n) {
      rc = ERR_FIELD_COUNT;
      break;
    }
    if ((*records)++) putc1(out, ',');
    putc1(out, header ? '{' : '[');
    for (size_t k = 0; k < row.n; k++) {
      if (k) putc1(out, ',');
      if (header) {
        put_json_string(out, head.fields[k].p, head.fields[k].len);
        putc1(out, ':');
      }
      put_json_string(out, row.fields[k].p, row.fields[k].len);
    }
    putc1(out, header ? '}' : ']');
  }
  putc1(out, ']');
  if (!rc && out->oom) rc = ERR_NO_MEMORY;
  if (rc) {
    static const char *const what[] = {"", "unterminated quoted field", "wrong number of fields", "text after a closing quote",
                                       "input is not valid UTF-8", "out of memory"};
    /* No snprintf: stdio would make the component import WASI. */
    char msg[128] = "csv2json: ", digits[24];
    if (rc != ERR_UTF8) {
      size_t d = sizeof digits;
      digits[--d] = 0;
      do digits[--d] = (char)('0' + record % 10); while ((record /= 10) && d);
      strcat(msg, "record ");
      strcat(msg, digits + d);
      strcat(msg, ": ");
    }
    strcat(msg, what[rc]);
    ctx->log(ctx, LOG_WARN, msg);
  }
  free(head.fields), free(head.scratch_at), free(head.scratch.p);
  free(row.fields), free(row.scratch_at), free(row.scratch.p);
  return rc;
}

static int32_t on_hook(PluginContext *ctx, const char *event, const uint8_t *data, uint32_t len) {
  (void)event;
  Buf out = {0};
  int32_t records;
  int rc = convert(ctx, data, len, &out, &records);
  if (!rc) rc = plughost_hook_output(out.p, (uint32_t)out.len);
  free(out.p);
  return rc;
}

static int32_t on_event(PluginContext *ctx, const char *data, uint32_t len) {
  Buf out = {0};
  int32_t records;
  int rc = convert(ctx, (const uint8_t *)data, len, &out, &records);
  free(out.p);
  return rc ? -rc : records;
}

int32_t plugin_init(PluginContext *ctx) {
  int32_t rc = ctx->register_callback(ctx, "csv2json", on_event);
  if (rc) return rc;
  return plughost_register_hook(ctx, "csv2json", on_hook);
}

int32_t plugin_teardown(PluginContext *ctx) {
  (void)ctx;
  return 0;
}
