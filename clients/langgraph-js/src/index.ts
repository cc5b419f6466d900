// LogbookSaver: a LangGraph checkpoint saver backed by a logbook server.
//
// Every put, putWrites and deleteThread is an event in logbook's durable,
// hash-chained log, acknowledged only after fsync; values are stored in
// logbook's deduplicated chunk store, so a thread whose message list grows
// by one message per turn costs about one message of new storage per turn.
// The server side is documented in docs/api.md ("Graph checkpoints").
//
//   import { LogbookSaver } from "@logbook/langgraph-checkpoint";
//   const checkpointer = new LogbookSaver({ url: "http://127.0.0.1:7070", apiKey: process.env.LOGBOOK_KEY! });
//   const graph = workflow.compile({ checkpointer });

import http from "node:http";
import https from "node:https";

import type { RunnableConfig } from "@langchain/core/runnables";
import {
  BaseCheckpointSaver,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  copyCheckpoint,
  maxChannelVersion,
  writesSortKey,
} from "@langchain/langgraph-checkpoint";

export interface LogbookSaverOptions {
  /** Base URL of `logbook serve`, e.g. "http://127.0.0.1:7070". */
  url: string;
  /** An API key (`logbook keys create --tenant T --role operator`). */
  apiKey: string;
  /** X-Tenant-ID: the tenant to act for, with a key valid for all tenants. */
  tenant?: string;
  /** TTL for the threads this saver writes, in seconds (-1: never expire; default: the server's). */
  ttlSeconds?: number;
  /** Per-request timeout in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Keep-alive connections kept open to the server (default 16). */
  maxSockets?: number;
  serde?: SerializerProtocol;
}

/** An error answered by the server ({"error":{"code","message"}}). */
export class LogbookError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = "LogbookError";
  }
}

/** The server could not be reached (not running, wrong URL, connection lost). */
export class LogbookUnavailableError extends LogbookError {
  constructor(message: string, readonly cause?: unknown) {
    super(message, 0, "unavailable");
    this.name = "LogbookUnavailableError";
  }
}

interface WireValue {
  type: string;
  data: string; // base64
}

interface WireTuple {
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
  parent_checkpoint_id: string | null;
  checkpoint: WireValue;
  metadata: Record<string, unknown>;
  channel_versions: Record<string, number | string>;
  channel_values: Record<string, WireValue>;
  pending_writes: Array<WireValue & { task_id: string; channel: string; task_path: string; idx: number }>;
}

interface HttpAnswer {
  status: number;
  body: string;
}

export class LogbookSaver extends BaseCheckpointSaver {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly options: LogbookSaverOptions;

  constructor(options: LogbookSaverOptions) {
    super(options.serde);
    this.options = options;
    this.base = new URL(options.url);
    const Agent = this.base.protocol === "https:" ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 16 });
  }

  /** Closes the keep-alive connections. */
  end(): void {
    this.agent.destroy();
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) return undefined;
    const query = new URLSearchParams({
      thread_id: String(threadId),
      checkpoint_ns: config.configurable?.checkpoint_ns ?? "",
    });
    const id = config.configurable?.checkpoint_id;
    if (id) query.set("checkpoint_id", String(id));
    const res = await this.request("GET", `/v1/graph/checkpoint?${query}`);
    if (res.status === 404) return undefined;
    const wire = this.check(res) as WireTuple;
    return this.toTuple(wire);
  }

  async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options ?? {};
    let remaining = options?.limit;
    if (remaining !== undefined && remaining <= 0) return;
    const threadId = config.configurable?.thread_id;
    const ns = config.configurable?.checkpoint_ns;
    const onlyId = config.configurable?.checkpoint_id;
    const beforeId = before?.configurable?.checkpoint_id;
    if (onlyId) {
      // One checkpoint: fetch it and apply the other conditions here.
      if (threadId === undefined) return;
      const t = await this.getTuple({ configurable: { thread_id: threadId, checkpoint_ns: ns ?? "", checkpoint_id: onlyId } });
      if (t === undefined) return;
      if (beforeId && t.checkpoint.id >= beforeId) return;
      if (filter && !Object.entries(filter).every(([k, v]) => (t.metadata as Record<string, unknown>)?.[k] === v)) return;
      yield t;
      return;
    }
    let cursor: string | undefined;
    for (;;) {
      const query = new URLSearchParams();
      if (threadId !== undefined) query.set("thread_id", String(threadId));
      if (ns !== undefined) query.set("checkpoint_ns", ns);
      if (beforeId) query.set("before", String(beforeId));
      if (filter && Object.keys(filter).length > 0) query.set("filter", JSON.stringify(filter));
      query.set("limit", String(Math.min(remaining ?? 100, 100)));
      if (cursor) query.set("cursor", cursor);
      const page = this.check(await this.request("GET", `/v1/graph/checkpoints?${query}`)) as {
        checkpoints: WireTuple[];
        next_cursor: string | null;
      };
      for (const wire of page.checkpoints) {
        yield await this.toTuple(wire);
        if (remaining !== undefined && --remaining <= 0) return;
      }
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    const threadId = config.configurable?.thread_id;
    if (threadId === undefined || threadId === null) {
      throw new Error(
        'Failed to put checkpoint: the RunnableConfig has no "thread_id" in its "configurable" property.',
      );
    }
    const checkpointNs: string = config.configurable?.checkpoint_ns ?? "";
    // The body leaves out what the server keeps anyway (the id and the
    // channel versions) and the channel values, sent one by one below.
    const { channel_values: values, channel_versions: _versions, id: _id, ...rest } = copyCheckpoint(checkpoint);
    // Only channels with a new version are sent: the others are stored
    // already, under the version the checkpoint names.
    const channelValues: Record<string, WireValue> = {};
    for (const channel of Object.keys(newVersions)) {
      if (values && Object.prototype.hasOwnProperty.call(values, channel)) {
        channelValues[channel] = await this.encode((values as Record<string, unknown>)[channel]);
      }
    }
    const body = {
      thread_id: String(threadId),
      checkpoint_ns: checkpointNs,
      checkpoint_id: checkpoint.id,
      parent_checkpoint_id: config.configurable?.checkpoint_id ?? null,
      checkpoint: await this.encode(rest),
      metadata: await this.metadataJson(metadata),
      channel_versions: checkpoint.channel_versions ?? {},
      new_versions: newVersions,
      channel_values: channelValues,
      ...(this.options.ttlSeconds !== undefined ? { ttl_seconds: this.options.ttlSeconds } : {}),
    };
    this.check(await this.request("POST", "/v1/graph/checkpoints", body));
    return {
      configurable: {
        thread_id: threadId,
        checkpoint_ns: checkpointNs,
        checkpoint_id: checkpoint.id,
      },
    };
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const threadId = config.configurable?.thread_id;
    const checkpointId = config.configurable?.checkpoint_id;
    if (threadId === undefined || threadId === null) {
      throw new Error('Failed to put writes: the RunnableConfig has no "thread_id" in its "configurable" property.');
    }
    if (checkpointId === undefined || checkpointId === null) {
      throw new Error('Failed to put writes: the RunnableConfig has no "checkpoint_id" in its "configurable" property.');
    }
    const wire = await Promise.all(
      writes.map(async ([channel, value], idx) => ({
        channel,
        idx: WRITES_IDX_MAP[channel] || idx,
        ...(await this.encode(value)),
      })),
    );
    this.check(
      await this.request("POST", "/v1/graph/writes", {
        thread_id: String(threadId),
        checkpoint_ns: config.configurable?.checkpoint_ns ?? "",
        checkpoint_id: String(checkpointId),
        task_id: taskId,
        task_path: taskPath ?? "",
        writes: wire,
      }),
    );
  }

  async deleteThread(threadId: string): Promise<void> {
    this.check(await this.request("DELETE", `/v1/graph/threads?${new URLSearchParams({ thread_id: threadId })}`));
  }

  /** Keeps the newest `keepLatest` checkpoints of each namespace of a thread; returns how many went. */
  async prune(threadId: string, keepLatest: number, checkpointNs?: string): Promise<number> {
    const body: Record<string, unknown> = { thread_id: threadId, keep_latest: keepLatest };
    if (checkpointNs !== undefined) body.checkpoint_ns = checkpointNs;
    const res = this.check(await this.request("POST", "/v1/graph/threads/prune", body)) as { pruned: number };
    return res.pruned;
  }

  // ---- conversions

  private async encode(value: unknown): Promise<WireValue> {
    const [type, bytes] = await this.serde.dumpsTyped(value);
    return { type, data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64") };
  }

  private async decode(v: WireValue): Promise<unknown> {
    return this.serde.loadsTyped(v.type, new Uint8Array(Buffer.from(v.data, "base64")));
  }

  // Metadata goes as JSON, so that the server can filter on it.
  private async metadataJson(metadata: CheckpointMetadata): Promise<Record<string, unknown>> {
    const [type, bytes] = await this.serde.dumpsTyped(metadata);
    if (type === "json") return JSON.parse(new TextDecoder().decode(bytes));
    return JSON.parse(JSON.stringify(metadata));
  }

  private async toTuple(wire: WireTuple): Promise<CheckpointTuple> {
    const body = (await this.decode(wire.checkpoint)) as Partial<Checkpoint>;
    const channelValues: Record<string, unknown> = {};
    for (const [channel, value] of Object.entries(wire.channel_values)) {
      channelValues[channel] = await this.decode(value);
    }
    const checkpoint = {
      ...body,
      id: body.id ?? wire.checkpoint_id,
      channel_versions: body.channel_versions ?? { ...wire.channel_versions },
      channel_values: channelValues,
    } as Checkpoint;
    const configurable = {
      thread_id: wire.thread_id,
      checkpoint_ns: wire.checkpoint_ns,
      checkpoint_id: wire.checkpoint_id,
    };
    if (checkpoint.v < 4 && wire.parent_checkpoint_id) {
      await this.migratePendingSends(checkpoint, { ...configurable, checkpoint_id: wire.parent_checkpoint_id });
    }
    const ordered = [...wire.pending_writes].sort((a, b) =>
      compareWritesSortKeys(writesSortKey(a.task_path, a.task_id, a.idx), writesSortKey(b.task_path, b.task_id, b.idx)),
    );
    const pendingWrites: CheckpointPendingWrite[] = [];
    for (const w of ordered) pendingWrites.push([w.task_id, w.channel, await this.decode(w)]);
    const tuple: CheckpointTuple = {
      config: { configurable },
      checkpoint,
      metadata: (await this.serde.loadsTyped("json", JSON.stringify(wire.metadata))) as CheckpointMetadata,
      pendingWrites,
    };
    if (wire.parent_checkpoint_id) {
      tuple.parentConfig = { configurable: { ...configurable, checkpoint_id: wire.parent_checkpoint_id } };
    }
    return tuple;
  }

  // Checkpoints older than format 4 kept pending sends as writes to TASKS on
  // their parent; LangGraph expects them in channel_values.
  private async migratePendingSends(
    checkpoint: Checkpoint,
    parent: { thread_id: string; checkpoint_ns: string; checkpoint_id: string },
  ): Promise<void> {
    const query = new URLSearchParams(parent);
    const res = await this.request("GET", `/v1/graph/checkpoint?${query}`);
    const sends: unknown[] = [];
    if (res.status !== 404) {
      const wire = this.check(res) as WireTuple;
      const ordered = wire.pending_writes
        .filter((w) => w.channel === TASKS)
        .sort((a, b) =>
          compareWritesSortKeys(writesSortKey(a.task_path, a.task_id, a.idx), writesSortKey(b.task_path, b.task_id, b.idx)),
        );
      for (const w of ordered) sends.push(await this.decode(w));
    }
    const mutable = checkpoint as Checkpoint & { channel_values: Record<string, unknown> };
    mutable.channel_values ??= {};
    mutable.channel_values[TASKS] = sends;
    mutable.channel_versions ??= {};
    mutable.channel_versions[TASKS] =
      Object.keys(mutable.channel_versions).length > 0
        ? maxChannelVersion(...Object.values(mutable.channel_versions))
        : this.getNextVersion(undefined);
  }

  // ---- HTTP

  private check(res: HttpAnswer): unknown {
    let parsed: any;
    try {
      parsed = res.body.length > 0 ? JSON.parse(res.body) : {};
    } catch {
      throw new LogbookError(`logbook answered ${res.status} with a body that is not JSON`, res.status, "bad_response");
    }
    if (res.status >= 200 && res.status < 300) return parsed;
    const code: string = parsed?.error?.code ?? "error";
    const message: string = parsed?.error?.message ?? res.body;
    if (res.status === 413) {
      throw new LogbookError(
        `logbook refused a request over its body limit (${message}); start \`logbook serve\` with a larger --body-limit (LOGBOOK_BODY_LIMIT)`,
        res.status,
        code,
      );
    }
    throw new LogbookError(`logbook: ${res.status} ${code}: ${message}`, res.status, code);
  }

  private request(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = {
      Authorization: `Bearer ${this.options.apiKey}`,
      Accept: "application/json",
    };
    if (this.options.tenant) headers["X-Tenant-ID"] = this.options.tenant;
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = payload.length;
    }
    const client = url.protocol === "https:" ? https : http;
    const timeout = this.options.timeoutMs ?? 30000;
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = client.request(url, { method, headers, agent: this.agent, timeout }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString("utf8") }));
        res.on("error", (e) => reject(this.unavailable(e)));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeout} ms`)));
      req.on("error", (e) => reject(this.unavailable(e)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  private unavailable(e: unknown): LogbookUnavailableError {
    const code = (e as NodeJS.ErrnoException)?.code;
    const what = code ? `${code}` : (e as Error)?.message ?? String(e);
    return new LogbookUnavailableError(
      `logbook server at ${this.base.origin} is unreachable (${what}); is \`logbook serve\` running there?`,
      e,
    );
  }
}
