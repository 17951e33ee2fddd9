import { createHash } from 'node:crypto';
import postgres, { type Sql } from 'postgres';
import type { WorldConfig } from '../config.js';
import { describeError, log } from '../log.js';
import { connectionOptions } from './client.js';
import { quoteIdent } from './ident.js';

/**
 * One dedicated LISTEN connection per process and database (docs/world-contract.md §8), shared by
 * every World instance, queue worker and stream reader of the process through an in-memory
 * dispatcher. NOTIFY is only a hint: payloads carry ids, and every subscriber gets `onResync` after
 * each (re)connect so it can re-query what it may have missed while the connection was down. A
 * dropped connection is re-established with capped exponential backoff; nothing here throws into
 * the caller or leaves a rejection unobserved.
 */
export interface Subscription {
  unsubscribe(): void;
}

interface Subscriber {
  onNotify: (payload: string) => void;
  onResync?: () => void;
}

/** Channel names are identifiers of at most 63 bytes: long schema names are hashed. */
export function channelName(schema: string, topic: string): string {
  const plain = `wwp:${schema}:${topic}`;
  if (Buffer.byteLength(plain) <= 63) return plain;
  return `wwp:${createHash('sha256').update(schema).digest('hex').slice(0, 24)}:${topic}`;
}

class Listener {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private readonly listening = new Set<string>();
  private sql: Sql | undefined;
  private connected = false;
  /** When `connected` last changed (or the listener was created). */
  private changedAt = new Date();
  private reconnectTimer: NodeJS.Timeout | undefined;
  private backoffMs = 100;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly config: WorldConfig,
    private readonly onEmpty: () => void,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  get state(): ListenerState {
    return { status: this.connected ? 'up' : 'reconnecting', since: this.changedAt };
  }

  private setConnected(connected: boolean): void {
    if (this.connected !== connected) this.changedAt = new Date();
    this.connected = connected;
  }

  subscribe(channel: string, subscriber: Subscriber): Subscription {
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(subscriber);
    if (!this.listening.has(channel)) void this.listenAll();
    let done = false;
    return {
      unsubscribe: () => {
        if (done) return;
        done = true;
        const current = this.channels.get(channel);
        current?.delete(subscriber);
        if (current && current.size === 0) {
          this.channels.delete(channel);
          if (this.listening.delete(channel) && this.connected) {
            this.sql?.unsafe(`unlisten ${quoteIdent(channel)}`).catch(() => {});
          }
        }
        if (this.channels.size === 0) this.onEmpty();
      },
    };
  }

  private connection(): Sql {
    this.sql ??= postgres(this.url, {
      ...connectionOptions(this.config, 1),
      idle_timeout: 0,
      max_lifetime: null,
      // The statement timeout must not apply to a connection that only waits.
      connection: { application_name: `${this.config.applicationName}:listen` },
      onnotify: (channel: string, payload: string) => this.dispatch(channel, payload),
      onclose: () => this.lost(),
    } as postgres.Options<{}>);
    return this.sql;
  }

  private dispatch(channel: string, payload: string): void {
    for (const s of this.channels.get(channel) ?? []) {
      try {
        s.onNotify(payload);
      } catch (error) {
        log.error('notification subscriber threw', { channel, error: describeError(error) });
      }
    }
  }

  /** LISTENs on every channel not yet listened on; on failure schedules a reconnect. */
  private async listenAll(): Promise<void> {
    if (this.closed) return;
    const wanted = [...this.channels.keys()].filter((c) => !this.listening.has(c));
    if (wanted.length === 0) return;
    wanted.forEach((c) => this.listening.add(c));
    try {
      await this.connection().unsafe(wanted.map((c) => `listen ${quoteIdent(c)}`).join('; '));
      const wasDown = !this.connected;
      this.setConnected(true);
      this.backoffMs = 100;
      if (wasDown) log.debug('listen connection up', { channels: this.listening.size });
      // Subscribers of (re)listened channels re-query what they might have missed.
      for (const c of wanted) for (const s of this.channels.get(c) ?? []) s.onResync?.();
    } catch (error) {
      wanted.forEach((c) => this.listening.delete(c));
      this.setConnected(false);
      log.warn('listen failed; retrying with backoff', { error: describeError(error), retryInMs: this.backoffMs });
      this.scheduleReconnect();
    }
  }

  private lost(): void {
    if (this.closed) return;
    if (this.connected) log.warn('listen connection lost; reconnecting');
    this.setConnected(false);
    this.listening.clear();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer || this.channels.size === 0) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 5_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.listenAll();
    }, delay);
    this.reconnectTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.channels.clear();
    this.listening.clear();
    const sql = this.sql;
    this.sql = undefined;
    await sql?.end({ timeout: 2 }).catch(() => {});
  }
}

const listeners = new Map<string, Listener>();

/**
 * Subscribes to a channel on the process's listener for `config` (opened on first use, closed
 * with its last subscriber). `onResync` runs after every (re)connect.
 */
export function subscribe(
  config: WorldConfig,
  channel: string,
  onNotify: (payload: string) => void,
  onResync?: () => void,
): Subscription {
  const url = config.listenConnectionString ?? config.connectionString;
  if (!url) {
    // An app-provided `sql` without a URL: no LISTEN, subscribers rely on their polling.
    return { unsubscribe() {} };
  }
  let listener = listeners.get(url);
  if (!listener) {
    const created: Listener = new Listener(url, config, () => {
      if (listeners.get(url) === created) listeners.delete(url);
      void created.close();
    });
    listener = created;
    listeners.set(url, listener);
  }
  return listener.subscribe(channel, { onNotify, onResync });
}

/**
 * The process's listener for `config`: 'up', 'reconnecting' (since when), or 'unused' when nothing
 * in this process listens (no started queue, no live reader) or no URL is configured.
 */
export interface ListenerState {
  status: 'up' | 'reconnecting' | 'unused';
  since: Date | null;
}

export function listenerState(config: WorldConfig): ListenerState {
  const url = config.listenConnectionString ?? config.connectionString;
  return (url ? listeners.get(url)?.state : undefined) ?? { status: 'unused', since: null };
}

/** Whether the process's listener for `config` is connected (readers poll faster when not). */
export function isListening(config: WorldConfig): boolean {
  const url = config.listenConnectionString ?? config.connectionString;
  return url ? (listeners.get(url)?.isConnected ?? false) : false;
}
