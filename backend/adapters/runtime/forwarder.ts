import { chmodSync, rmSync } from "node:fs";
import type { Socket, UnixSocketListener } from "bun";

/**
 * Accepts connections on a unix socket and pipes each, byte for byte, to 127.0.0.1:<port> of one
 * of the slot's web instances: the one with the fewest open connections. A connect that fails (an
 * instance that crashed and is being restarted) goes on to the next port, so a client never sees
 * one instance's crash while another runs. So does an HTTP request with an idempotent method
 * whose instance closed the connection before it answered a byte (one that was dying as it
 * accepted), as nginx's proxy_next_upstream would.
 *
 * Why: nginx's upstream is a unix-socket symlink that the switch replaces atomically, which moves
 * traffic with no reload (a reload drops keep-alive clients). Apps only know `PORT`, so each
 * slot gets this small forwarder in front of it and the app's code stays as it is.
 */
export interface Forwarder {
  readonly socketPath: string;
  /** Open client connections. */
  connections(): number;
  /**
   * Waits until no connection is left, or `timeoutMs` passes; resolves with how many were still
   * open then. nginx retires busy kept-alive connections by itself (keepalive_time); one that
   * has sat idle after a response for `idleMs` is one nginx is not using, and is closed here.
   * Should nginx pick it in that instant anyway, it retries an idempotent request on a fresh
   * connection, which follows the replaced symlink.
   */
  drain(options?: { idleMs?: number; timeoutMs?: number }): Promise<number>;
  /** Stops accepting; open connections finish unless `force`. */
  stop(force?: boolean): void;
}

interface Pair {
  upstream: Socket<Pair> | null;
  client: Socket<Pair>;
  /** The instance (index into the ports) the connection went to. */
  target: number;
  /** Bytes waiting for the other side to drain (backpressure). */
  toUpstream: Uint8Array[];
  toClient: Uint8Array[];
  /**
   * What the client sent, kept until the instance answers its first byte (up to REPLAY_BYTES),
   * to send again to another instance should this one close without answering; null after.
   */
  sent: Uint8Array[] | null;
  sentBytes: number;
  closed: boolean;
  /** When the last byte moved, and which way: a connection is idle after a response. */
  lastAt: number;
  lastFromUpstream: boolean;
}

/** The most of a request kept for a retry on another instance. */
const REPLAY_BYTES = 64 * 1024;

/** Whether the bytes begin an HTTP request that may be sent twice (RFC 9110 idempotent methods, PUT/DELETE aside). */
function replayable(sent: Uint8Array[]): boolean {
  const head = new TextDecoder().decode((sent[0] ?? new Uint8Array()).subarray(0, 8));
  return /^(GET|HEAD|OPTIONS) /.test(head);
}

export function startForwarder(options: { socketPath: string; port?: number; ports?: number[]; host?: string }): Forwarder {
  const host = options.host ?? "127.0.0.1";
  const ports = options.ports && options.ports.length > 0 ? options.ports : options.port !== undefined ? [options.port] : [];
  if (ports.length === 0) throw new Error("a forwarder needs at least one port");
  const open = new Set<Pair>();
  /** Open connections per instance, for the least-connections choice. */
  const load = ports.map(() => 0);
  let next = 0;
  rmSync(options.socketPath, { force: true });

  const closePair = (pair: Pair) => {
    if (pair.closed) return;
    pair.closed = true;
    open.delete(pair);
    if (pair.target >= 0) load[pair.target] = (load[pair.target] ?? 1) - 1;
    pair.upstream?.end();
    pair.client.end();
  };

  /** The instance with the fewest open connections among those not tried yet; ties go round. */
  const pick = (tried: Set<number>): number => {
    let best = -1;
    for (let k = 0; k < ports.length; k++) {
      const i = (next + k) % ports.length;
      if (tried.has(i)) continue;
      if (best < 0 || (load[i] as number) < (load[best] as number)) best = i;
    }
    next = (next + 1) % ports.length;
    return best;
  };

  const connect = (pair: Pair, tried: Set<number>) => {
    const target = pick(tried);
    if (target < 0) return closePair(pair);
    tried.add(target);
    pair.target = target;
    load[target] = (load[target] as number) + 1;
    let settled = false;
    // Nothing was sent upstream before the connect failed: the next instance gets the whole request.
    const retry = () => {
      if (settled || pair.closed) return;
      settled = true;
      load[target] = (load[target] as number) - 1;
      pair.target = -1;
      connect(pair, tried);
    };
    /** The instance closed before answering a byte: a request that may be repeated goes to the next one. */
    const ended = (upstream: Socket<Pair>) => {
      if (pair.closed) return;
      if (pair.upstream === upstream && pair.sent && pair.sent.length > 0 && tried.size < ports.length && replayable(pair.sent)) {
        pair.upstream = null;
        load[target] = (load[target] as number) - 1;
        pair.target = -1;
        pair.toUpstream = [...pair.sent, ...pair.toUpstream];
        pair.sent = [];
        pair.sentBytes = 0;
        connect(pair, tried);
        return;
      }
      closePair(pair);
    };
    Bun.connect<Pair>({
      hostname: host,
      port: ports[target] as number,
      data: pair,
      socket: {
        open(upstream) {
          settled = true;
          if (pair.closed) {
            upstream.end();
            return;
          }
          pair.upstream = upstream;
          flushUpstream(pair, upstream);
        },
        data(_upstream, chunk) {
          pair.lastAt = Date.now();
          pair.lastFromUpstream = true;
          pair.sent = null;
          send(pair.client, pair.toClient, chunk);
        },
        drain(upstream) {
          flush(upstream, pair.toUpstream);
        },
        close(upstream) {
          if (settled) ended(upstream);
        },
        error(upstream) {
          if (settled) ended(upstream);
        },
        connectError() {
          retry();
        },
      },
    }).catch(() => retry());
  };

  const listener: UnixSocketListener<Pair> = Bun.listen<Pair>({
    unix: options.socketPath,
    socket: {
      open(client) {
        const pair: Pair = {
          upstream: null,
          client,
          target: -1,
          toUpstream: [],
          toClient: [],
          sent: [],
          sentBytes: 0,
          closed: false,
          lastAt: Date.now(),
          lastFromUpstream: true,
        };
        client.data = pair;
        open.add(pair);
        connect(pair, new Set());
      },
      data(client, chunk) {
        const pair = client.data;
        pair.lastAt = Date.now();
        pair.lastFromUpstream = false;
        if (pair.upstream) {
          remember(pair, chunk);
          send(pair.upstream, pair.toUpstream, chunk);
        } else pair.toUpstream.push(new Uint8Array(chunk));
      },
      drain(client) {
        flush(client, client.data.toClient);
      },
      close(client) {
        closePair(client.data);
      },
      error(client) {
        closePair(client.data);
      },
    },
  });

  // nginx workers may run as another user (nobody, www-data). Anyone on this machine can reach the
  // app's TCP port on 127.0.0.1 anyway, so an open socket exposes nothing more.
  chmodSync(options.socketPath, 0o666);

  return {
    socketPath: options.socketPath,
    connections: () => open.size,
    async drain({ idleMs = 1500, timeoutMs = 30_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      while (open.size > 0 && Date.now() < deadline) {
        const now = Date.now();
        for (const pair of [...open]) {
          const idle = pair.lastFromUpstream && pair.toClient.length === 0 && now - pair.lastAt >= idleMs;
          if (idle) closePair(pair);
        }
        if (open.size > 0) await Bun.sleep(Math.min(50, idleMs));
      }
      return open.size;
    },
    stop(force = false) {
      listener.stop(force);
      if (force) for (const pair of [...open]) closePair(pair);
      rmSync(options.socketPath, { force: true });
    },
  };
}

/** Keeps a copy of bytes going upstream while a retry elsewhere may still need them. */
function remember(pair: Pair, chunk: Uint8Array): void {
  if (!pair.sent) return;
  pair.sentBytes += chunk.byteLength;
  if (pair.sentBytes > REPLAY_BYTES) pair.sent = null;
  else pair.sent.push(new Uint8Array(chunk));
}

/** Sends what waited for the upstream connection to open, remembering it for a retry. */
function flushUpstream(pair: Pair, upstream: Socket<Pair>): void {
  for (const chunk of pair.toUpstream) remember(pair, chunk);
  flush(upstream, pair.toUpstream);
}

function send(socket: Socket<Pair>, queue: Uint8Array[], chunk: Uint8Array): void {
  if (queue.length > 0) {
    queue.push(new Uint8Array(chunk));
    return;
  }
  const written = socket.write(chunk);
  if (written < chunk.byteLength) queue.push(new Uint8Array(chunk.subarray(Math.max(0, written))));
}

function flush(socket: Socket<Pair>, queue: Uint8Array[]): void {
  while (queue.length > 0) {
    const chunk = queue[0] as Uint8Array;
    const written = socket.write(chunk);
    if (written < chunk.byteLength) {
      queue[0] = chunk.subarray(Math.max(0, written));
      return;
    }
    queue.shift();
  }
}

/**
 * The forwarder's control socket (server mode, where the panel may not signal the forwarder's
 * user): one line in, `drain <timeoutMs>` or `connections`, one JSON line out.
 */
export function startControl(forwarder: Forwarder, path: string, mode = 0o660): { stop(): void } {
  rmSync(path, { force: true });
  const listener = Bun.listen<{ buffer: string; busy: boolean }>({
    unix: path,
    socket: {
      open(socket) {
        socket.data = { buffer: "", busy: false };
      },
      data(socket, chunk) {
        const state = socket.data;
        if (state.busy) return;
        state.buffer += new TextDecoder().decode(chunk);
        const end = state.buffer.indexOf("\n");
        if (end < 0) {
          if (state.buffer.length > 256) socket.end(`${JSON.stringify({ error: "request too long" })}\n`);
          return;
        }
        state.busy = true;
        const [verb, arg] = state.buffer.slice(0, end).trim().split(/\s+/);
        if (verb === "connections") {
          socket.end(`${JSON.stringify({ connections: forwarder.connections() })}\n`);
        } else if (verb === "drain" && arg !== undefined && /^\d{1,9}$/.test(arg)) {
          void forwarder.drain({ timeoutMs: Number(arg) }).then((left) => socket.end(`${JSON.stringify({ left })}\n`));
        } else {
          socket.end(`${JSON.stringify({ error: "unknown request" })}\n`);
        }
      },
    },
  });
  chmodSync(path, mode);
  return {
    stop() {
      listener.stop(true);
      rmSync(path, { force: true });
    },
  };
}

/** Asks a forwarder's control socket to drain; resolves with the connections still open after `timeoutMs`. */
export async function requestDrain(controlPath: string, timeoutMs: number): Promise<number> {
  const reply = await ask(controlPath, `drain ${Math.max(0, Math.round(timeoutMs))}\n`, timeoutMs + 10_000);
  if (typeof reply.left !== "number") throw new Error(`the forwarder at ${controlPath} answered ${JSON.stringify(reply)}`);
  return reply.left;
}

function ask(path: string, line: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = "";
    let settled = false;
    const settle = (error: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) return reject(error);
      try {
        resolve(JSON.parse(text.trim()) as Record<string, unknown>);
      } catch {
        reject(new Error(`the forwarder at ${path} gave no answer`));
      }
    };
    const timer = setTimeout(() => settle(new Error(`the forwarder at ${path} did not answer within ${timeoutMs} ms`)), timeoutMs);
    Bun.connect({
      unix: path,
      socket: {
        open(socket) {
          socket.write(line);
        },
        data(_socket, chunk) {
          text += new TextDecoder().decode(chunk);
        },
        close() {
          settle(null);
        },
        error(_socket, error) {
          settle(error);
        },
        connectError(_socket, error) {
          settle(error);
        },
      },
    }).catch((error: Error) => settle(error));
  });
}

// As a program (the systemd socket unit): `bun forwarder.ts <socketPath> <port[,port…]> [<controlPath>]`;
// SIGUSR2, or `drain` on the control socket, drains.
if (import.meta.main) {
  const [socketPath, portList, controlPath] = process.argv.slice(2);
  if (!socketPath || !portList || !/^\d{1,5}(,\d{1,5}){0,31}$/.test(portList)) {
    console.error("usage: forwarder.ts <socketPath> <port[,port…]> [<controlPath>]");
    process.exit(2);
  }
  const forwarder = startForwarder({ socketPath, ports: portList.split(",").map(Number) });
  const control = controlPath ? startControl(forwarder, controlPath) : null;
  process.on("SIGUSR2", () => void forwarder.drain({ timeoutMs: 30_000 }));
  process.on("SIGTERM", () => {
    control?.stop();
    forwarder.stop();
    process.exit(0);
  });
}
