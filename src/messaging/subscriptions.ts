/**
 * The host's subscriptions to what plugins emit (`registry.subscribe`): a
 * callback, or an `EventStream` to read with `for await`. Messages reach them
 * after the emitting call returns (never inside a plugin's call, so host code
 * may call plugins), in emit order.
 */
import type { Message } from "./envelope.js";

/** A host subscriber: told each message emitted for its event. A throw or a rejection is logged, nothing more. */
export type Subscriber = (message: Message) => void | Promise<void>;

/** Options of `registry.subscribe(event, options)` (the stream form). */
export interface EventStreamOptions {
  /** Messages held for a reader that lags; past it new ones are dropped and counted in `dropped`. Default 1024. */
  bufferSize?: number;
}

/**
 * The messages emitted for one event (or `"*"`: all), as an async iterable. Bounded: a reader that lags loses the
 * newest messages past `bufferSize`, counted in `dropped`. Ending a `for await` loop (break, return, throw) or
 * `close()` ends the subscription.
 *
 * @example
 *   const stream = registry.subscribe("order.created");
 *   for await (const message of stream) console.log(message.source, message.data);
 */
export interface EventStream extends AsyncIterable<Message> {
  /** Stop receiving; a pending read ends (done). Idempotent. */
  close(): void;
  /** Messages dropped because the buffer was full. */
  readonly dropped: number;
  /** True once closed. */
  readonly closed: boolean;
}

/** The default `bufferSize` of an event stream. */
export const DEFAULT_STREAM_BUFFER = 1024;

class Stream implements EventStream {
  readonly #buffer: Message[] = [];
  readonly #size: number;
  readonly #onClose: () => void;
  #waiting: ((r: IteratorResult<Message>) => void) | undefined;
  #dropped = 0;
  #closed = false;

  constructor(size: number, onClose: () => void) {
    this.#size = size;
    this.#onClose = onClose;
  }

  get dropped(): number {
    return this.#dropped;
  }

  get closed(): boolean {
    return this.#closed;
  }

  push(message: Message): void {
    if (this.#closed) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: message, done: false });
    } else if (this.#buffer.length < this.#size) {
      this.#buffer.push(message);
    } else {
      this.#dropped++;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer.length = 0;
    this.#onClose();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: () => {
        const message = this.#buffer.shift();
        if (message !== undefined) return Promise.resolve({ value: message, done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        if (this.#waiting) return Promise.reject(new Error("an EventStream has one reader at a time: await each next() before the next"));
        return new Promise<IteratorResult<Message>>((resolve) => (this.#waiting = resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** @internal The registry's host subscriptions, by event (`"*"`: every event). */
export class Subscriptions {
  readonly #byEvent = new Map<string, Set<Subscriber>>();
  readonly #onError: (err: unknown, message: Message) => void;
  readonly #streams = new Set<Stream>();
  #pending: Message[] = [];
  #scheduled = false;
  /** How many subscribers there are: the emit path checks it before anything else. */
  size = 0;

  constructor(onError: (err: unknown, message: Message) => void) {
    this.#onError = onError;
  }

  /** Whether a message for `event` has any subscriber. */
  wants(event: string): boolean {
    return this.size !== 0 && (this.#byEvent.has(event) || this.#byEvent.has("*"));
  }

  add(event: string, fn: Subscriber): () => void {
    let set = this.#byEvent.get(event);
    if (!set) this.#byEvent.set(event, (set = new Set()));
    // The same function twice is two subscriptions: wrap it so each has its own identity.
    const own: Subscriber = (m) => fn(m);
    set.add(own);
    this.size++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      set.delete(own);
      this.size--;
      if (set.size === 0 && this.#byEvent.get(event) === set) this.#byEvent.delete(event);
    };
  }

  stream(event: string, options: EventStreamOptions = {}): EventStream {
    const size = options.bufferSize ?? DEFAULT_STREAM_BUFFER;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`bufferSize must be a positive integer, not ${size}`);
    let remove = (): void => undefined;
    const stream: Stream = new Stream(size, () => {
      remove();
      this.#streams.delete(stream);
    });
    remove = this.add(event, (m) => stream.push(m));
    this.#streams.add(stream);
    return stream;
  }

  /** End every stream (their readers finish) and drop every callback: the registry is closing. */
  closeAll(): void {
    for (const stream of [...this.#streams]) stream.close();
    this.#byEvent.clear();
    this.size = 0;
  }

  /** Tell the subscribers of `message.event` (and of `"*"`) after the current call returns. */
  publish(message: Message): void {
    this.#pending.push(message);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    for (const message of batch) {
      for (const key of [message.event, "*"]) {
        const set = this.#byEvent.get(key);
        if (!set) continue;
        for (const fn of [...set]) {
          try {
            const out = fn(message);
            if (out && typeof (out as Promise<void>).then === "function") (out as Promise<void>).then(undefined, (err: unknown) => this.#onError(err, message));
          } catch (err) {
            this.#onError(err, message);
          }
        }
      }
    }
  }
}
