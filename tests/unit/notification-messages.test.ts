import { describe, expect, test } from "bun:test";
import * as messages from "../../backend/domain/notification-messages.ts";
import { afterFailure, GIVE_UP_MS, MAX_RETRY_MS, retryDelayMs } from "../../backend/jobs/notification-worker.ts";
import { channelWants, messageUrl } from "../../backend/jobs/notify.ts";
import { testConfig } from "../helpers/panel.ts";

describe("delivery backoff", () => {
  test("doubles from 10 s and stops growing at an hour", () => {
    expect([1, 2, 3, 4, 5, 6].map(retryDelayMs)).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 320_000]);
    expect(retryDelayMs(9)).toBe(2_560_000);
    expect(retryDelayMs(10)).toBe(MAX_RETRY_MS);
    expect(retryDelayMs(200)).toBe(MAX_RETRY_MS);
  });

  test("a failure schedules the next try; past a day it gives up", () => {
    const createdAt = new Date("2025-01-01T00:00:00Z");
    const now = new Date(createdAt.getTime() + 60_000);
    expect(afterFailure({ createdAt }, 3, now)).toEqual({ giveUp: false, nextAttemptAt: new Date(now.getTime() + 40_000) });
    const late = new Date(createdAt.getTime() + GIVE_UP_MS - 30 * 60_000);
    expect(afterFailure({ createdAt }, 20, late)).toEqual({ giveUp: true });
  });
});

describe("routing", () => {
  const channel = { enabled: true, events: null, appIds: null };
  test("a channel without events or apps takes everything", () => {
    expect(channelWants(channel, "deploy.failed", "a1")).toBe(true);
    expect(channelWants(channel, "signin.new-address", null)).toBe(true);
  });
  test("events and apps narrow it; a disabled channel takes nothing", () => {
    expect(channelWants({ ...channel, events: ["deploy.failed"] }, "deploy.succeeded", "a1")).toBe(false);
    expect(channelWants({ ...channel, appIds: ["a2"] }, "deploy.failed", "a1")).toBe(false);
    expect(channelWants({ ...channel, appIds: ["a1"] }, "deploy.failed", "a1")).toBe(true);
    expect(channelWants({ ...channel, appIds: ["a1"] }, "certificate.expiring", null)).toBe(true);
    expect(channelWants({ ...channel, enabled: false }, "deploy.failed", "a1")).toBe(false);
  });
  test("links are made absolute; the app's page by default", () => {
    const config = testConfig({ SWITCHYARD_PUBLIC_URL: "https://panel.example.com" });
    expect(messageUrl(config, undefined, "shop")).toBe("https://panel.example.com/apps/shop");
    expect(messageUrl(config, "/apps/shop?job=j1", "shop")).toBe("https://panel.example.com/apps/shop?job=j1");
    expect(messageUrl(config, null, "shop")).toBeNull();
    expect(messageUrl(config, undefined, null)).toBeNull();
  });
});

describe("messages", () => {
  test("a failed deploy names the app, the step and carries the last log lines", () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    const built = messages.deployFailed({
      app: "shop",
      step: "build",
      error: "bun run build exited 1",
      lines,
      release: null,
      commitSha: "0123456789abcdef0123",
      jobId: "j1",
      trigger: "push",
    });
    expect(built).toEqual({
      event: "deploy.failed",
      message: {
        severity: "critical",
        title: "Deploy of shop failed at build",
        text: "bun run build exited 1. The live release keeps serving. The last 20 log lines of build are below.",
        app: "shop",
        release: null,
        fields: [
          { label: "Step", value: "build" },
          { label: "Commit", value: "0123456789ab" },
          { label: "Trigger", value: "push" },
        ],
        lines: lines.slice(10),
        url: "/apps/shop?job=j1",
      },
    });
  });

  test("a deploy that went live names the release and the slot", () => {
    const built = messages.deploySucceeded({
      app: "shop",
      release: { id: "r7", number: 7, commitSha: "abcdef1234567890" },
      color: "green",
      switchMs: 3,
      jobId: "j2",
    });
    expect(built.event).toBe("deploy.succeeded");
    expect(built.message.title).toBe("Deploy of shop succeeded: v7 is live");
    expect(built.message.fields).toEqual([
      { label: "Release", value: "v7 (abcdef123456)" },
      { label: "Slot", value: "green" },
    ]);
  });

  test("an automatic rollback carries the watch's figures", () => {
    const built = messages.automaticRollback({
      app: "shop",
      release: { id: "r8", number: 8, commitSha: "abc" },
      to: "blue",
      reason: "5xx 50.0% (10/20) after the switch vs 0.0% (0/30) before",
      before: { requests: 30, errors: 0, ratio: 0 },
      after: { requests: 20, errors: 10, ratio: 0.5, p95: 12.4 },
      jobId: "j3",
    });
    expect(built.event).toBe("rollback.automatic");
    expect(built.message.title).toBe("shop was rolled back automatically from v8");
    expect(built.message.fields).toEqual([
      { label: "Release", value: "v8 (abc)" },
      { label: "After the switch", value: "50.0% 5xx (10/20), p95 12 ms" },
      { label: "Before", value: "0.0% 5xx (0/30)" },
      { label: "Back on", value: "blue slot" },
    ]);
  });

  test("a slot's end: crash-looping, crashed, or down", () => {
    const exit = (code: number | null, at: string) => ({ code, signal: null, at });
    const base = { app: "shop", color: "blue", wasLive: true, release: null };
    const loop = messages.slotStopped({ ...base, state: "crashed", exits: [exit(1, "t1"), exit(1, "t2"), exit(1, "t3")] });
    expect(loop.event).toBe("app.crash-looping");
    expect(loop.message.title).toBe("shop: the live blue slot is crash-looping");
    expect(loop.message.lines).toEqual(["exit code 1 at t1", "exit code 1 at t2", "exit code 1 at t3"]);
    expect(messages.slotStopped({ ...base, state: "crashed", exits: [exit(137, "t1")] }).event).toBe("app.crashed");
    const down = messages.slotStopped({ ...base, wasLive: false, state: "stopped", exits: [exit(0, "t1")] });
    expect(down.event).toBe("slot.down");
    expect(down.message.severity).toBe("warning");
    expect(down.message.title).toBe("shop: the standby blue slot is down");
  });

  test("certificates: issued, failed while the old one serves, expiring", () => {
    const notAfter = new Date("2025-03-01T00:00:00Z");
    expect(
      messages.certificateIssued({ name: "a.example.com", names: ["a.example.com"], issuer: "R3", notAfter, renewal: true }).message.title,
    ).toBe("Certificate for a.example.com renewed");
    const failed = messages.certificateFailed({
      name: "a.example.com",
      names: ["a.example.com"],
      reason: "DNS says no.",
      stillValidUntil: notAfter,
    });
    expect(failed.message.severity).toBe("warning");
    expect(failed.message.text).toBe("DNS says no. The current certificate keeps serving until 2025-03-01.");
    const expiring = messages.certificateExpiring({
      name: "a.example.com",
      notAfter,
      now: new Date("2025-02-24T12:00:00Z"),
      autoRenew: false,
      mode: "http-01",
      lastError: null,
    });
    expect(expiring.event).toBe("certificate.expiring");
    expect(expiring.message.title).toBe("Certificate for a.example.com expires in 4 days");
    expect(expiring.message.fields[0]).toEqual({ label: "Certificate", value: "a.example.com" });
  });

  test("backups: failed, and failed verification", () => {
    const failed = messages.backupFailed({ database: "orders", kind: "manual", error: "The dump failed: disk full", verification: false });
    expect(failed.event).toBe("backup.failed");
    expect(failed.message.url).toBe("/databases/orders");
    const unverified = messages.backupFailed({
      database: "orders",
      kind: "scheduled",
      error: "The restore did not match.",
      verification: true,
    });
    expect(unverified.event).toBe("backup.verify-failed");
    expect(unverified.message.title).toBe("Backup of orders failed verification");
  });

  test("the panel, sign-ins and 2FA", () => {
    expect(messages.panelUpdated({ from: "aaa", to: "bbb" }).message.title).toBe("Switchyard updated to bbb");
    expect(messages.panelReverted({ from: "aaa", to: "bbb", reason: "failed its health check" }).message.text).toBe(
      "The new version bbb failed its health check; the panel switched back to aaa by itself.",
    );
    const signin = messages.signInFromNewAddress({ email: "ada@example.com", ip: "203.0.113.9", userAgent: "Firefox" });
    expect(signin.event).toBe("signin.new-address");
    expect(signin.message.fields).toContainEqual({ label: "Address", value: "203.0.113.9" });
    expect(messages.twoFactorDisabled({ email: "ada@example.com", ip: "203.0.113.9" }).message.title).toBe(
      "Two-factor authentication turned off for ada@example.com",
    );
  });

  test("the note of held-back alert messages", () => {
    expect(messages.suppressedNote(1)).toBe("1 more change of this alert was held back since the last message.");
    expect(messages.suppressedNote(4)).toBe("4 more changes of this alert were held back since the last message.");
  });
});

test("log lines lose their terminal colours", () => {
  expect(messages.plainLine("\u001b[0m\u001b[31merror: boom\u001b[0m")).toBe("error: boom");
  expect(messages.plainLine("\u001b]8;;https://x\u0007link\u001b]8;;\u0007")).toBe("link");
});
