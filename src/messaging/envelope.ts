/**
 * Message envelopes: every call the registry makes into a plugin carries one
 * (dispatch / invoke / emit / send are kind `event`, hook chain steps `hook`,
 * requests `request`). A message sent while handling another has it as parent
 * and inherits its metadata.
 *
 * The fast paths (`invokeSync`, a dispatch's direct loop) must not pay for
 * envelopes nobody reads, so an `Envelope` is a mutable record whose `id` is 0
 * until someone asks for it (`messageId`): a guest's `current-message`, a
 * child message that needs its parent's id, a host subscriber. Ids are then
 * taken from one increasing counter, so a parent's id is always smaller than
 * its children's.
 */
import type { MessageKind } from "../contract/abi.js";
import type { MessageInfo } from "../engines/engine.js";

export type { MessageKind } from "../contract/abi.js";

/**
 * A message as the host sees it: what a subscriber receives, what a host
 * service answers, what a hook's context carries.
 */
export interface Message {
  /** Unique and increasing within this host. */
  readonly id: number;
  /** The message during whose handling this one was sent; undefined for the host's own calls. */
  readonly parentId?: number;
  /** The plugin that sent it; undefined when the host did. */
  readonly source?: string;
  /** The plugin (or host service) it is addressed to; undefined for a broadcast (emit, dispatch). */
  readonly target?: string;
  /** The event name. */
  readonly event: string;
  /** `event` (dispatch, invoke, emit, send), `hook` (a hook chain step) or `request`. */
  readonly kind: MessageKind;
  /** The payload. */
  readonly data: Uint8Array;
  /** String metadata: set by the host (`CallOptions.metadata`), inherited by every message sent while handling it. */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * @internal The registry's mutable form of a `Message`: `id` is 0 until first
 * asked for (`messageId`), and the sync fast paths reuse one per plugin.
 */
export interface Envelope {
  id: number;
  parentId: number | undefined;
  source: string | undefined;
  target: string | undefined;
  event: string;
  kind: MessageKind;
  data: Uint8Array;
  metadata: Readonly<Record<string, string>>;
}

/** The metadata of a message that has none. */
export const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});

let lastId = 0;

/** A fresh message id: unique and increasing within this process. */
export function nextMessageId(): number {
  return ++lastId;
}

/** `envelope`'s id, taking one now if it has none yet. */
export function messageId(envelope: Envelope): number {
  return envelope.id === 0 ? (envelope.id = ++lastId) : envelope.id;
}

/** A new envelope (its id taken lazily). */
export function envelope(
  event: string,
  kind: MessageKind,
  data: Uint8Array,
  target: string | undefined,
  source: string | undefined,
  parent: Envelope | undefined,
  metadata: Readonly<Record<string, string>> | undefined,
): Envelope {
  return {
    id: 0,
    parentId: parent === undefined ? undefined : messageId(parent),
    source,
    target,
    event,
    kind,
    data,
    metadata: metadata ?? parent?.metadata ?? NO_METADATA,
  };
}

/** A message's metadata over its parent's (the child's keys win), frozen; the parent's own object when `own` is empty. */
export function mergeMetadata(parent: Readonly<Record<string, string>> | undefined, own: Readonly<Record<string, string>> | undefined): Readonly<Record<string, string>> {
  if (own === undefined || Object.keys(own).length === 0) return parent ?? NO_METADATA;
  const out: Record<string, string> = { ...(parent ?? {}) };
  for (const [k, v] of Object.entries(own)) out[k] = String(v);
  return Object.freeze(out);
}

/** The public, immutable `Message` of an envelope (its id taken now if needed). */
export function toMessage(e: Envelope): Message {
  const id = messageId(e);
  return {
    id,
    ...(e.parentId !== undefined ? { parentId: e.parentId } : {}),
    ...(e.source !== undefined ? { source: e.source } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
    event: e.event,
    kind: e.kind,
    data: e.data,
    metadata: e.metadata,
  };
}

/** What a guest's `current-message` answers for `e` (WIT record `message-info`). */
export function toMessageInfo(e: Envelope): MessageInfo {
  return {
    id: messageId(e),
    ...(e.parentId !== undefined ? { parentId: e.parentId } : {}),
    ...(e.source !== undefined ? { source: e.source } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
    eventName: e.event,
    kind: e.kind,
    metadata: e.metadata === NO_METADATA ? [] : Object.entries(e.metadata),
  };
}
