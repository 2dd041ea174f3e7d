import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer, type SMTPServerSession } from "smtp-server";
import type { NotificationChannel, NotificationDelivery, NotificationMessage } from "../../backend/contract/api.ts";
import { notificationDeliveries } from "../../backend/db/schema/index.ts";
import { TEST_DB } from "../helpers/database.ts";
import { createRepo, type TestRepo } from "../helpers/git-repo.ts";
import { cookieFrom, createTestApi, type TestApi } from "../helpers/panel.ts";
import { freePort } from "../helpers/ports.ts";

/**
 * Channels end to end: each kind is created through the API, sends its test message to a real
 * receiver (an SMTP server with STARTTLS and sign-in, a plain one, and local HTTP servers that
 * check the exact request Slack, Discord, Telegram, ntfy and a signed-webhook receiver expect),
 * a failing test says why and marks the channel failing, secrets never come back, bad config is
 * refused naming the field.
 */

const MASK = "••••";
const SMTP_USER = "notifier";
const SMTP_PASSWORD = "smtp-pa55word-very-secret";
const BOT_TOKEN = "123456789:AAFsecretTelegramTokenValue_xyz";
const NTFY_TOKEN = "tk_ntfysecrettoken0123456789";
const SLACK_PATH = "/slack/T000/B000/slacksecretpath0123";
const DISCORD_PATH = "/discord/api/webhooks/42/discordsecretpath0123";

interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

interface Mail {
  parsed: ParsedMail;
  secure: boolean;
  user: unknown;
  envelope: SMTPServerSession["envelope"];
}

/** An SMTP server that keeps what it receives; with `tls`, sign-in is only allowed after STARTTLS. */
async function startSmtp(options: { tls?: { key: Buffer; cert: Buffer } }) {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    logger: false,
    banner: "test smtp",
    ...(options.tls
      ? {
          secure: false,
          key: options.tls.key,
          cert: options.tls.cert,
          authMethods: ["PLAIN", "LOGIN"],
          onAuth(auth, _session, callback) {
            if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) return callback(null, { user: SMTP_USER });
            callback(Object.assign(new Error("Authentication credentials invalid"), { responseCode: 535 }));
          },
        }
      : { authOptional: true, disabledCommands: ["STARTTLS", "AUTH"] }),
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (parsed) => {
          mails.push({ parsed, secure: session.secure, user: session.user, envelope: session.envelope });
          callback();
        },
        (error: Error) => callback(error),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe(`notification channels (${TEST_DB})`, () => {
  let api: TestApi;
  let owner: string;
  let viewer: string;
  let certDir: string;
  let repo: TestRepo;
  let tlsSmtp: Awaited<ReturnType<typeof startSmtp>>;
  let plainSmtp: Awaited<ReturnType<typeof startSmtp>>;
  let receiver: ReturnType<typeof Bun.serve>;
  const received: Received[] = [];
  let base: string;

  const call = <T = any>(method: string, path: string, body?: unknown, cookie = owner) =>
    api.request<T>(method, path, { cookie, ...(body === undefined ? {} : { body }) });

  const create = async (body: Record<string, unknown>) => {
    const res = await call<{ channel: NotificationChannel; signingSecret?: string }>("POST", "/api/v1/notifications/channels", body);
    expect(res.status).toBe(201);
    return res.body;
  };

  const runTest = async (id: string) => {
    const res = await call<{ ok: boolean; status: number | null; error: string | null; ms: number }>(
      "POST",
      `/api/v1/notifications/channels/${id}/test`,
    );
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["error", "ms", "ok", "status"]);
    return res.body;
  };

  const channel = async (id: string) => {
    const res = await call<{ channels: NotificationChannel[] }>("GET", "/api/v1/notifications/channels");
    const found = res.body.channels.find((c) => c.id === id);
    if (!found) throw new Error(`channel ${id} not listed`);
    return found;
  };

  /** The requests the receivers got at a path (the newest last). */
  const at = (path: string) => received.filter((r) => r.path === path);

  const expectField = (res: { status: number; body: any }, field: string, pattern?: RegExp) => {
    expect(res.status).toBe(400);
    expect(res.body.error.details.issues[0].path).toBe(field);
    expect(res.body.error.message.startsWith(`${field}:`)).toBe(true);
    if (pattern) expect(res.body.error.message).toMatch(pattern);
  };

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), "sy-smtp-cert-"));
    const openssl = Bun.spawnSync(
      [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(certDir, "key.pem"),
        "-out",
        join(certDir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stderr: "pipe" },
    );
    expect(openssl.exitCode).toBe(0);
    tlsSmtp = await startSmtp({ tls: { key: readFileSync(join(certDir, "key.pem")), cert: readFileSync(join(certDir, "cert.pem")) } });
    plainSmtp = await startSmtp({});

    receiver = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const url = new URL(req.url);
        const body = await req.text();
        received.push({ method: req.method, path: url.pathname, headers: Object.fromEntries(req.headers), body });
        if (url.pathname === SLACK_PATH) return new Response("ok");
        if (url.pathname === "/slack/gone") return new Response("no_service", { status: 404 });
        if (url.pathname === DISCORD_PATH) return new Response(null, { status: 204 });
        if (url.pathname === `/tg/bot${BOT_TOKEN}/sendMessage`) {
          const chat = (JSON.parse(body) as { chat_id: string }).chat_id;
          if (chat !== "-1001234567890") {
            return Response.json({ ok: false, error_code: 400, description: "Bad Request: chat not found" }, { status: 400 });
          }
          return Response.json({ ok: true, result: { message_id: 1 } });
        }
        if (url.pathname === "/ntfy/deploys") {
          if (req.headers.get("authorization") !== `Bearer ${NTFY_TOKEN}`) {
            return Response.json({ code: 40101, http: 401, error: "unauthorized" }, { status: 401 });
          }
          return Response.json({ id: "x", event: "message" });
        }
        if (url.pathname === "/hooks/in") return new Response(null, { status: 204 });
        if (url.pathname === "/moved") return new Response(null, { status: 301, headers: { location: "/elsewhere" } });
        return new Response("not here", { status: 404 });
      },
    });
    base = `http://127.0.0.1:${receiver.port}`;

    api = await createTestApi();
    owner = await api.setupOwner();
    repo = await createRepo({ "index.html": "<h1>test</h1>" });
    for (const name of ["shop", "blog"]) {
      const res = await call("POST", "/api/v1/apps", { name, repoUrl: repo.url, deploy: false });
      expect(res.status).toBe(201);
    }
    const made = await call("POST", "/api/v1/users", {
      email: "viewer@example.com",
      name: "V",
      password: "correct-horse-battery",
      role: "viewer",
    });
    expect(made.status).toBe(201);
    viewer = cookieFrom(
      (await api.request("POST", "/api/v1/auth/login", { body: { email: "viewer@example.com", password: "correct-horse-battery" } }))
        .headers,
    );
  });

  afterAll(async () => {
    receiver?.stop(true);
    await tlsSmtp?.close();
    await plainSmtp?.close();
    await api?.close();
    repo?.cleanup();
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  test("email over STARTTLS with sign-in: an untrusted certificate fails the test and says why; trusted anyway, the mail arrives", async () => {
    const { channel: created } = await create({
      kind: "email",
      name: "Ops mail",
      config: {
        host: "localhost",
        port: tlsSmtp.port,
        security: "starttls",
        username: SMTP_USER,
        password: SMTP_PASSWORD,
        from: "Switchyard <switchyard@example.com>",
        to: ["ops@example.com", "oncall@example.com"],
      },
    });
    expect(created.config).toEqual({
      host: "localhost",
      port: tlsSmtp.port,
      security: "starttls",
      username: SMTP_USER,
      password: MASK,
      from: "Switchyard <switchyard@example.com>",
      to: ["ops@example.com", "oncall@example.com"],
      verifyCertificate: true,
    });
    expect(created.events).toBeNull();
    expect(created.apps).toBeNull();
    expect(created.health.state).toBe("unknown");

    const refused = await runTest(created.id);
    expect(refused.ok).toBe(false);
    expect(refused.status).toBeNull();
    expect(refused.error).toMatch(/localhost:\d+ has a TLS certificate that is not trusted .*self[- ]signed/i);
    expect(tlsSmtp.mails).toHaveLength(0);
    const failing = await channel(created.id);
    expect(failing.health).toMatchObject({ state: "failing", consecutiveFailures: 1, lastError: refused.error });
    expect(failing.health.lastFailureAt).not.toBeNull();

    // The edit sends the password back masked, as the GUI got it: the stored one is kept.
    const edited = await call("PATCH", `/api/v1/notifications/channels/${created.id}`, {
      config: { ...created.config, verifyCertificate: false },
    });
    expect(edited.status).toBe(200);
    expect(edited.body.channel.config.password).toBe(MASK);
    expect(edited.body.channel.config.verifyCertificate).toBe(false);

    const sent = await runTest(created.id);
    expect(sent).toMatchObject({ ok: true, status: 250, error: null });
    expect(tlsSmtp.mails).toHaveLength(1);
    const mail = tlsSmtp.mails[0] as Mail;
    expect(mail.secure).toBe(true);
    expect(mail.user).toBe(SMTP_USER);
    expect(mail.envelope.rcptTo.map((r) => r.address)).toEqual(["ops@example.com", "oncall@example.com"]);
    expect(mail.parsed.from?.value).toEqual([{ address: "switchyard@example.com", name: "Switchyard" }]);
    expect(mail.parsed.subject).toBe("[Switchyard] Test message from Switchyard to Ops mail");
    expect(mail.parsed.headers.get("x-switchyard-event")).toBe("test");
    expect(mail.parsed.text).toContain("This is a test of the email channel Ops mail, sent by owner@example.com.");
    expect(mail.parsed.text).toContain("Open in Switchyard: http://localhost:3000/settings/notifications");
    expect(mail.parsed.html).toContain('<a href="http://localhost:3000/settings/notifications"');
    expect(mail.parsed.html).toContain("<h1");

    const healthy = await channel(created.id);
    expect(healthy.health).toMatchObject({ state: "ok", consecutiveFailures: 0 });
    expect(healthy.health.lastSuccessAt).not.toBeNull();
  });

  test("a wrong SMTP password: the test says the server refused the sign-in, without the password", async () => {
    const { channel: created } = await create({
      kind: "email",
      name: "Wrong password",
      config: {
        host: "127.0.0.1",
        port: tlsSmtp.port,
        username: SMTP_USER,
        password: "not-the-right-password",
        from: "switchyard@example.com",
        to: "ops@example.com",
        verifyCertificate: false,
      },
    });
    expect(created.config.security).toBe("starttls");
    expect(created.config.to).toEqual(["ops@example.com"]);
    const result = await runTest(created.id);
    expect(result.ok).toBe(false);
    expect(result.status).toBe(535);
    expect(result.error).toMatch(/refused the sign-in as notifier: 535 Authentication credentials invalid/);
    expect(result.error).not.toContain("not-the-right-password");
  });

  test("plain SMTP without sign-in (a local relay)", async () => {
    const { channel: created } = await create({
      kind: "email",
      name: "Relay",
      config: { host: "localhost", port: plainSmtp.port, security: "none", from: "switchyard@example.com", to: ["dev@example.com"] },
    });
    expect(created.config).not.toHaveProperty("password");
    expect(await runTest(created.id)).toMatchObject({ ok: true, status: 250 });
    const mail = plainSmtp.mails.at(-1) as Mail;
    expect(mail.secure).toBe(false);
    expect(mail.parsed.to).toMatchObject({ value: [{ address: "dev@example.com" }] });
    expect(mail.parsed.subject).toBe("[Switchyard] Test message from Switchyard to Relay");
  });

  test("Slack: an incoming-webhook POST with text and blocks; the webhook URL is a secret", async () => {
    const { channel: created } = await create({ kind: "slack", name: "Slack #deploys", config: { webhookUrl: `${base}${SLACK_PATH}` } });
    expect(created.config).toEqual({ webhookUrl: MASK });
    expect(await runTest(created.id)).toMatchObject({ ok: true, status: 200, error: null });
    const [request] = at(SLACK_PATH);
    expect(request?.method).toBe("POST");
    expect(request?.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(request?.body ?? "{}");
    expect(Object.keys(body).sort()).toEqual(["blocks", "text"]);
    expect(body.text).toBe("ℹ️ Test message from Switchyard to Slack #deploys");
    expect(body.blocks.map((b: { type: string }) => b.type)).toEqual(["header", "section", "section", "context", "actions"]);
    expect(body.blocks[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: "ℹ️ Test message from Switchyard to Slack #deploys", emoji: true },
    });
    expect(body.blocks[2].fields).toEqual([
      { type: "mrkdwn", text: "*Channel*\nSlack #deploys" },
      { type: "mrkdwn", text: "*Panel*\nlocalhost:3000" },
    ]);
    expect(body.blocks[4].elements[0]).toEqual({
      type: "button",
      text: { type: "plain_text", text: "Open in Switchyard" },
      url: "http://localhost:3000/settings/notifications",
    });
  });

  test("Slack answering an error: the test fails with what Slack said, naming only the host", async () => {
    const { channel: created } = await create({ kind: "slack", name: "Slack gone", config: { webhookUrl: `${base}/slack/gone` } });
    const result = await runTest(created.id);
    expect(result).toMatchObject({ ok: false, status: 404 });
    expect(result.error).toBe(`Slack at 127.0.0.1:${receiver.port} answered 404 Not Found: no_service`);
  });

  test("Discord: one embed, nobody pinged", async () => {
    const { channel: created } = await create({ kind: "discord", name: "Discord", config: { webhookUrl: `${base}${DISCORD_PATH}` } });
    expect(created.config).toEqual({ webhookUrl: MASK });
    expect(await runTest(created.id)).toMatchObject({ ok: true, status: 204 });
    const body = JSON.parse(at(DISCORD_PATH)[0]?.body ?? "{}");
    expect(body.username).toBe("Switchyard");
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(body.embeds).toHaveLength(1);
    expect(body.embeds[0]).toMatchObject({
      title: "ℹ️ Test message from Switchyard to Discord",
      url: "http://localhost:3000/settings/notifications",
      color: 0x3b82f6,
      fields: [
        { name: "Channel", value: "Discord", inline: true },
        { name: "Panel", value: "localhost:3000", inline: true },
      ],
      footer: { text: "Switchyard · test" },
    });
    expect(Date.parse(body.embeds[0].timestamp)).not.toBeNaN();
  });

  test("Telegram: POST <apiBaseUrl>/bot<token>/sendMessage with chat_id, HTML text and parse_mode; a wrong chat says why", async () => {
    const { channel: created } = await create({
      kind: "telegram",
      name: "Telegram <ops> & co",
      config: { botToken: BOT_TOKEN, chatId: -1001234567890, apiBaseUrl: `${base}/tg/` },
    });
    expect(created.config).toEqual({ botToken: MASK, chatId: "-1001234567890", apiBaseUrl: `${base}/tg` });
    expect(await runTest(created.id)).toMatchObject({ ok: true, status: 200 });
    const [request] = at(`/tg/bot${BOT_TOKEN}/sendMessage`);
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(request?.body ?? "{}")).toEqual({
      chat_id: "-1001234567890",
      parse_mode: "HTML",
      link_preview_options: { is_disabled: true },
      text: [
        "<b>ℹ️ Test message from Switchyard to Telegram &lt;ops&gt; &amp; co</b>",
        "This is a test of the telegram channel Telegram &lt;ops&gt; &amp; co, sent by owner@example.com. If you can read it, notifications reach you here.",
        "<b>Channel:</b> Telegram &lt;ops&gt; &amp; co\n<b>Panel:</b> localhost:3000",
        '<a href="http://localhost:3000/settings/notifications">Open in Switchyard</a>',
      ].join("\n\n"),
    });

    const moved = await call("PATCH", `/api/v1/notifications/channels/${created.id}`, { config: { chatId: "@wrongchat" } });
    expect(moved.status).toBe(200);
    expect(moved.body.channel.config).toEqual({ botToken: MASK, chatId: "@wrongchat", apiBaseUrl: `${base}/tg` });
    const result = await runTest(created.id);
    expect(result).toMatchObject({ ok: false, status: 400 });
    expect(result.error).toBe(`Telegram at 127.0.0.1:${receiver.port} answered 400 Bad Request: Bad Request: chat not found`);
    expect(result.error).not.toContain("AAFsecret");
  });

  test("ntfy: POST <server>/<topic> with Title, Priority, Tags, Click and the Bearer token", async () => {
    const { channel: created } = await create({
      kind: "ntfy",
      name: "Phone",
      config: { serverUrl: `${base}/ntfy`, topic: "deploys", token: NTFY_TOKEN },
    });
    expect(created.config).toEqual({ serverUrl: `${base}/ntfy`, topic: "deploys", token: MASK });
    expect(await runTest(created.id)).toMatchObject({ ok: true, status: 200 });
    const [request] = at("/ntfy/deploys");
    expect(request?.headers).toMatchObject({
      title: "Test message from Switchyard to Phone",
      priority: "default",
      tags: "information_source,test",
      click: "http://localhost:3000/settings/notifications",
      authorization: `Bearer ${NTFY_TOKEN}`,
      "content-type": "text/plain; charset=utf-8",
    });
    expect(request?.body).toBe(
      "This is a test of the ntfy channel Phone, sent by owner@example.com. If you can read it, notifications reach you here.\n\nChannel: Phone\nPanel: localhost:3000",
    );

    // Without the token the server refuses: the test says so.
    const cleared = await call("PATCH", `/api/v1/notifications/channels/${created.id}`, { config: { token: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body.channel.config).toEqual({ serverUrl: `${base}/ntfy`, topic: "deploys" });
    const result = await runTest(created.id);
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(result.error).toBe(`ntfy at 127.0.0.1:${receiver.port} answered 401 Unauthorized: unauthorized`);
    expect(at("/ntfy/deploys")[1]?.headers.authorization).toBeUndefined();
  });

  test("signed webhook: a generated secret shown once; the body is signed with HMAC-SHA256 of <timestamp>.<body>", async () => {
    const { channel: created, signingSecret } = await create({ kind: "webhook", name: "Hook", config: { url: `${base}/hooks/in` } });
    expect(signingSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(created.config).toEqual({ url: MASK, signingSecret: MASK });
    expect((await channel(created.id)).config).toEqual({ url: MASK, signingSecret: MASK });

    const before = Math.floor(Date.now() / 1000);
    expect(await runTest(created.id)).toMatchObject({ ok: true, status: 204 });
    const after = Math.floor(Date.now() / 1000);
    const [request] = at("/hooks/in");
    const timestamp = Number(request?.headers["x-switchyard-timestamp"]);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(after);
    const expected = createHmac("sha256", signingSecret as string)
      .update(`${timestamp}.${request?.body}`)
      .digest("hex");
    expect(request?.headers["x-switchyard-signature"]).toBe(`sha256=${expected}`);
    expect(request?.headers["x-switchyard-event"]).toBe("test");
    expect(request?.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(request?.body ?? "{}") as NotificationMessage;
    expect(body).toMatchObject({
      event: "test",
      severity: "info",
      title: "Test message from Switchyard to Hook",
      app: null,
      release: null,
      url: "http://localhost:3000/settings/notifications",
    });

    // A secret of the user's own is kept as given (and not answered).
    const own = await create({
      kind: "webhook",
      name: "Hook 2",
      config: { url: `${base}/hooks/in`, signingSecret: "my-own-signing-secret" },
    });
    expect(own.signingSecret).toBeUndefined();
    await runTest(own.channel.id);
    const second = at("/hooks/in")[1] as Received;
    const mac = createHmac("sha256", "my-own-signing-secret")
      .update(`${second.headers["x-switchyard-timestamp"]}.${second.body}`)
      .digest("hex");
    expect(second.headers["x-switchyard-signature"]).toBe(`sha256=${mac}`);
  });

  test("a receiver that is down, or redirects: the test says why, the channel shows failing until a test succeeds", async () => {
    const downPort = freePort();
    const { channel: created } = await create({ kind: "webhook", name: "Down", config: { url: `http://127.0.0.1:${downPort}/in` } });
    const down = await runTest(created.id);
    expect(down).toMatchObject({ ok: false, status: null });
    expect(down.error).toBe(`could not reach the webhook at 127.0.0.1:${downPort}: connection refused`);
    await runTest(created.id);
    expect((await channel(created.id)).health).toMatchObject({ state: "failing", consecutiveFailures: 2, lastError: down.error });

    const moved = await call("PATCH", `/api/v1/notifications/channels/${created.id}`, { config: { url: `${base}/moved` } });
    expect(moved.status).toBe(200);
    const redirect = await runTest(created.id);
    expect(redirect).toMatchObject({ ok: false, status: 301 });
    expect(redirect.error).toMatch(/answered 301, a redirect: redirects are not followed/);
    expect(at("/elsewhere")).toHaveLength(0);

    await call("PATCH", `/api/v1/notifications/channels/${created.id}`, { config: { url: `${base}/hooks/in` } });
    expect((await runTest(created.id)).ok).toBe(true);
    expect((await channel(created.id)).health).toMatchObject({ state: "ok", consecutiveFailures: 0, lastError: redirect.error });
  });

  test("bad config is refused naming the field, and nothing is saved", async () => {
    const before = (await call("GET", "/api/v1/notifications/channels")).body.channels.length;
    const email = { host: "localhost", port: 25, security: "none", from: "a@example.com", to: ["b@example.com"] };
    const post = (body: Record<string, unknown>) => call("POST", "/api/v1/notifications/channels", body);

    expectField(
      await post({ kind: "email", name: "x", config: { ...email, host: "no-such-host.invalid" } }),
      "config.host",
      /does not resolve/,
    );
    expectField(await post({ kind: "email", name: "x", config: { ...email, host: "not a host" } }), "config.host");
    expectField(await post({ kind: "email", name: "x", config: { ...email, port: 70000 } }), "config.port", /1-65535/);
    expectField(await post({ kind: "email", name: "x", config: { ...email, security: "ssl" } }), "config.security");
    expectField(await post({ kind: "email", name: "x", config: { ...email, to: ["not-an-address"] } }), "config.to.0");
    expectField(await post({ kind: "email", name: "x", config: { ...email, to: [] } }), "config.to");
    expectField(
      await post({ kind: "email", name: "x", config: { ...email, username: "u" } }),
      "config.password",
      /required with a user name/,
    );
    expectField(await post({ kind: "email", name: "x", config: { host: "localhost" } }), "config.from", /is required/);
    expectField(await post({ kind: "slack", name: "x", config: { webhookUrl: "ftp://hooks.example.com/x" } }), "config.webhookUrl", /http/);
    expectField(await post({ kind: "discord", name: "x", config: { webhookUrl: "javascript:alert(1)" } }), "config.webhookUrl");
    expectField(await post({ kind: "webhook", name: "x", config: { url: "file:///etc/passwd" } }), "config.url");
    expectField(
      await post({ kind: "webhook", name: "x", config: { url: `${base}/hooks/in`, signingSecret: "short" } }),
      "config.signingSecret",
    );
    expectField(await post({ kind: "telegram", name: "x", config: { botToken: "nope", chatId: "1" } }), "config.botToken");
    expectField(
      await post({ kind: "telegram", name: "x", config: { botToken: BOT_TOKEN, chatId: "1", apiBaseUrl: "gopher://x" } }),
      "config.apiBaseUrl",
    );
    expectField(await post({ kind: "ntfy", name: "x", config: { topic: "has spaces" } }), "config.topic");
    expectField(await post({ kind: "slack", name: "x", config: { webhookUrl: `${base}${SLACK_PATH}`, channel: "#x" } }), "config.channel");
    expectField(await post({ kind: "slack", name: "x", config: { webhookUrl: MASK } }), "config.webhookUrl", /stands for a stored secret/);
    expectField(await post({ kind: "slack", name: "x", config: "https://x" }), "config");
    expectField(await post({ kind: "pager", name: "x", config: {} }), "kind");
    expectField(await post({ kind: "slack", name: "", config: { webhookUrl: `${base}${SLACK_PATH}` } }), "name");
    expectField(
      await post({
        kind: "slack",
        name: "x",
        config: { webhookUrl: `${base}${SLACK_PATH}` },
        events: ["deploy.failed", "deploy.exploded"],
      }),
      "events",
      /"deploy.exploded" is not an event/,
    );
    expectField(await post({ kind: "slack", name: "x", config: { webhookUrl: `${base}${SLACK_PATH}` }, events: [] }), "events");
    expectField(
      await post({ kind: "slack", name: "x", config: { webhookUrl: `${base}${SLACK_PATH}` }, apps: ["shop", "nope"] }),
      "apps",
      /no app named "nope"/,
    );

    const taken = await post({ kind: "slack", name: "Discord", config: { webhookUrl: `${base}${SLACK_PATH}` } });
    expect(taken.status).toBe(409);
    expect(taken.body.error.details.issues[0].path).toBe("name");

    expect((await call("GET", "/api/v1/notifications/channels")).body.channels.length).toBe(before);
  });

  test("routing by event and app; edits keep secrets, refuse bad values naming the field; delete", async () => {
    const { channel: created } = await create({
      kind: "slack",
      name: "Shop alerts",
      config: { webhookUrl: `${base}${SLACK_PATH}` },
      events: ["deploy.failed", "alert.firing", "deploy.failed"],
      apps: ["shop"],
    });
    expect(created.events).toEqual(["deploy.failed", "alert.firing"]);
    expect(created.apps).toEqual(["shop"]);

    const path = `/api/v1/notifications/channels/${created.id}`;
    const edited = await call("PATCH", path, { name: "Shop and blog", apps: ["shop", "blog"], events: null, enabled: false });
    expect(edited.status).toBe(200);
    expect(edited.body.channel).toMatchObject({ name: "Shop and blog", apps: ["shop", "blog"], events: null, enabled: false });
    expect(edited.body.channel.config).toEqual({ webhookUrl: MASK });

    expectField(await call("PATCH", path, { apps: ["ghost"] }), "apps");
    expectField(await call("PATCH", path, { events: ["nope"] }), "events");
    expectField(await call("PATCH", path, { config: { webhookUrl: "not a url" } }), "config.webhookUrl");
    expectField(await call("PATCH", path, { kind: "discord" }), "kind");
    expect((await call("PATCH", path, { name: "Hook" })).status).toBe(409);

    // The secret kept through the edits still sends (a disabled channel can still be tested).
    const sentBefore = at(SLACK_PATH).length;
    expect((await runTest(created.id)).ok).toBe(true);
    expect(at(SLACK_PATH)).toHaveLength(sentBefore + 1);

    const hook = (await call<{ channels: NotificationChannel[] }>("GET", "/api/v1/notifications/channels")).body.channels.find(
      (c) => c.name === "Hook",
    ) as NotificationChannel;
    expectField(
      await call("PATCH", `/api/v1/notifications/channels/${hook.id}`, { config: { signingSecret: null } }),
      "config.signingSecret",
      /cannot be removed/,
    );

    expect((await call("DELETE", path)).status).toBe(204);
    expect((await call("DELETE", path)).status).toBe(404);
    expect((await call("POST", `${path}/test`)).status).toBe(404);
    expect((await call("PATCH", "/api/v1/notifications/channels/not-a-uuid", { name: "x" })).status).toBe(400);
  });

  test("secrets appear nowhere in answers or the audit log", async () => {
    const everything = JSON.stringify([
      (await call("GET", "/api/v1/notifications/channels")).body,
      (await call("GET", "/api/v1/audit?limit=200")).body,
    ]);
    for (const secret of [SMTP_PASSWORD, BOT_TOKEN, NTFY_TOKEN, SLACK_PATH, DISCORD_PATH, "my-own-signing-secret"]) {
      expect(everything).not.toContain(secret);
    }
    expect(everything).toContain("notification_channel.created");
    expect(everything).toContain("notification_channel.tested");
  });

  test("the delivery log: newest first, by channel and status, in the contract's shape", async () => {
    const { channels } = (await call<{ channels: NotificationChannel[] }>("GET", "/api/v1/notifications/channels")).body;
    const hook = channels.find((c) => c.name === "Hook") as NotificationChannel;
    const phone = channels.find((c) => c.name === "Phone") as NotificationChannel;
    const shop = (await call("GET", "/api/v1/apps/shop")).body;
    const message = (title: string): NotificationMessage => ({
      event: "deploy.failed",
      severity: "critical",
      title,
      text: "",
      app: "shop",
      release: null,
      fields: [],
      lines: [],
      url: null,
      at: new Date().toISOString(),
    });
    const attempt = { at: new Date().toISOString(), ms: 12, status: 503, error: "the webhook at x answered 503" };
    // The outbox is written by the delivery side; here rows are put in as it writes them.
    await api.services.db.insert(notificationDeliveries).values([
      {
        channelId: hook.id,
        event: "deploy.failed",
        appId: shop.app.id,
        message: message("one"),
        status: "sent",
        attempts: 1,
        sentAt: new Date(),
      },
      {
        channelId: hook.id,
        event: "deploy.failed",
        appId: null,
        message: message("two"),
        status: "pending",
        attempts: 1,
        log: [attempt],
        lastError: attempt.error,
      },
      {
        channelId: phone.id,
        event: "deploy.failed",
        appId: null,
        message: message("three"),
        status: "failed",
        attempts: 3,
        log: [attempt, attempt, attempt],
        lastError: attempt.error,
      },
    ]);

    const all = await call<{ deliveries: NotificationDelivery[] }>("GET", "/api/v1/notifications/deliveries");
    expect(all.status).toBe(200);
    expect(all.body.deliveries.map((d) => d.title)).toEqual(["three", "two", "one"]);
    const [three, two, one] = all.body.deliveries as [NotificationDelivery, NotificationDelivery, NotificationDelivery];
    expect(three).toMatchObject({
      channel: { id: phone.id, name: "Phone", kind: "ntfy" },
      event: "deploy.failed",
      app: null,
      status: "failed",
      attempts: 3,
      nextAttemptAt: null,
      lastError: attempt.error,
      sentAt: null,
    });
    expect(three.log).toEqual([attempt, attempt, attempt]);
    expect(two.nextAttemptAt).not.toBeNull();
    expect(one).toMatchObject({ app: "shop", status: "sent", attempts: 1 });
    expect(one.sentAt).not.toBeNull();

    const byChannel = await call<{ deliveries: NotificationDelivery[] }>("GET", `/api/v1/notifications/deliveries?channel=${hook.id}`);
    expect(byChannel.body.deliveries.map((d) => d.title)).toEqual(["two", "one"]);
    const failed = await call<{ deliveries: NotificationDelivery[] }>("GET", "/api/v1/notifications/deliveries?status=failed");
    expect(failed.body.deliveries.map((d) => d.title)).toEqual(["three"]);
    const page = await call<{ deliveries: NotificationDelivery[] }>("GET", `/api/v1/notifications/deliveries?limit=1&before=${three.id}`);
    expect(page.body.deliveries.map((d) => d.title)).toEqual(["two"]);

    expectField(await call("GET", "/api/v1/notifications/deliveries?status=lost"), "status");
    expectField(await call("GET", "/api/v1/notifications/deliveries?limit=0"), "limit");
    expectField(await call("GET", "/api/v1/notifications/deliveries?channel=x"), "channel");
  });

  test("channels are for admins: a viewer may neither read nor change them", async () => {
    for (const [method, path] of [
      ["GET", "/api/v1/notifications/channels"],
      ["GET", "/api/v1/notifications/deliveries"],
      ["POST", "/api/v1/notifications/channels"],
    ] as const) {
      const res = await call(method, path, method === "POST" ? { kind: "slack", name: "v", config: {} } : undefined, viewer);
      expect(res.status).toBe(403);
    }
  });
});
