/**
 * What both Redis transports share (the worker's ioredis, redis-worker.ts, and the synchronous hiredis addon,
 * redis-sync.ts): the key layout and the Lua scripts. Every write that reads before it writes (quota, increment,
 * compare-and-swap, delete, wipe) is one script, so it is atomic on the server however many hosts share it.
 *
 * Layout, for namespace N under prefix P (N escaped so that ':' cannot forge another namespace's prefix):
 *   P:N:v:<key>   a value (a string)
 *   P:N:keys      a sorted set of the keys, all score 0, so ZRANGEBYLEX lists them in byte order
 *   P:N:usage     a hash: bytes, keys
 *   P:N:snapshot  the hand-off snapshot (outside the usage)
 */

// KEYS[1] value, KEYS[2] index, KEYS[3] usage; ARGV[1] is always the key's name (its byte length counts).
// charge() checks the quota for a write that changes the value from `oldlen` (existed) to `newlen` bytes and, when
// it passes, books the usage and indexes a new key; it returns the refusal {-1, bytes, keys} otherwise.
const CHARGE = `
local function charge(existed, oldlen, newlen, qb, qk)
  local db, dk
  if existed then db = newlen - oldlen; dk = 0 else db = string.len(ARGV[1]) + newlen; dk = 1 end
  if db > 0 or dk > 0 then
    local u = redis.call('HMGET', KEYS[3], 'bytes', 'keys')
    local b, k = tonumber(u[1]) or 0, tonumber(u[2]) or 0
    local nb, nk = b + db, k + dk
    if (nb > qb and nb > b) or (nk > qk and nk > k) then return {-1, nb, nk} end
  end
  if db ~= 0 then redis.call('HINCRBY', KEYS[3], 'bytes', db) end
  if dk ~= 0 then
    redis.call('HINCRBY', KEYS[3], 'keys', dk)
    redis.call('ZADD', KEYS[2], 0, ARGV[1])
  end
  return nil
end
`;

export const SCRIPTS = {
  // ARGV: name, value, quota bytes, quota keys. Reply {1} or a refusal.
  stateSet: `${CHARGE}
local existed = redis.call('EXISTS', KEYS[1]) == 1
local oldlen = existed and redis.call('STRLEN', KEYS[1]) or 0
local refused = charge(existed, oldlen, string.len(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if refused then return refused end
redis.call('SET', KEYS[1], ARGV[2])
return {1}`,
  // ARGV: name, value, quota bytes, quota keys, mode ('m': expect missing, 'p': expect ARGV[6]), expected.
  // Reply {1} stored, {0} mismatch, or a refusal.
  stateCas: `${CHARGE}
local old = redis.call('GET', KEYS[1])
if ARGV[5] == 'm' then
  if old then return {0} end
elseif (not old) or old ~= ARGV[6] then
  return {0}
end
local refused = charge(old ~= false, old and string.len(old) or 0, string.len(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if refused then return refused end
redis.call('SET', KEYS[1], ARGV[2])
return {1}`,
  // ARGV: name, delta, quota bytes, quota keys. INCRBY is Redis's own 64-bit arithmetic (Lua numbers are doubles);
  // a refusal puts the old value back, which nobody can observe inside a script.
  // Reply {1, new decimal text}, {-2, 'overflow'|'nan'}, or a refusal.
  stateIncr: `${CHARGE}
local old = redis.call('GET', KEYS[1])
local r = redis.pcall('INCRBY', KEYS[1], ARGV[2])
if type(r) == 'table' and r.err then
  if string.find(r.err, 'overflow') then return {-2, 'overflow'} end
  return {-2, 'nan'}
end
local new = redis.call('GET', KEYS[1])
local refused = charge(old ~= false, old and string.len(old) or 0, string.len(new), tonumber(ARGV[3]), tonumber(ARGV[4]))
if refused then
  if old then redis.call('SET', KEYS[1], old) else redis.call('DEL', KEYS[1]) end
  return refused
end
return {1, new}`,
  // ARGV: name. Reply 1 when the key was there.
  stateDel: `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local len = redis.call('STRLEN', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'bytes', -(string.len(ARGV[1]) + len))
redis.call('HINCRBY', KEYS[3], 'keys', -1)
return 1`,
  // KEYS[1] index; ARGV[1] the value-key prefix. Reply {name1, value1, name2, value2, ...} in byte order.
  stateEntries: `
local names = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for i, name in ipairs(names) do
  out[2 * i - 1] = name
  out[2 * i] = redis.call('GET', ARGV[1] .. name) or ''
end
return out`,
  // KEYS: index, usage, snapshot; ARGV[1] the value-key prefix. Deletes in chunks (unpack has a stack limit).
  stateWipe: `
while true do
  local names = redis.call('ZRANGE', KEYS[1], 0, 499)
  if #names == 0 then break end
  local full = {}
  for i, name in ipairs(names) do full[i] = ARGV[1] .. name end
  redis.call('DEL', unpack(full))
  redis.call('ZREM', KEYS[1], unpack(names))
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1`,
} as const;

export const KEY_COUNTS: Record<keyof typeof SCRIPTS, number> = { stateSet: 3, stateCas: 3, stateIncr: 3, stateDel: 3, stateEntries: 1, stateWipe: 3 };

/** A script's name. */
export type ScriptName = keyof typeof SCRIPTS;

/** The namespace with '%', ':', '{' and '}' escaped as %XX. */
export const escapeNs = (ns: string): string => ns.replace(/[%:{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
/** `P:N:`, the start of every key of namespace N. */
export const nsBase = (prefix: string, ns: string): string => `${prefix}:${escapeNs(ns)}:`;
/** KEYS[1..3] of the value scripts: the value, the index, the usage. */
export const valueKeys = (prefix: string, ns: string, key: string): [string, string, string] => {
  const b = nsBase(prefix, ns);
  return [`${b}v:${key}`, `${b}keys`, `${b}usage`];
};
