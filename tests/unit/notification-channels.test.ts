import { describe, expect, test } from "bun:test";
import { MASK } from "../../backend/domain/masking.ts";
import { keepMasked, maskedConfig, mergeConfig, parseChannelConfig, splitConfig } from "../../backend/domain/notification-channels.ts";

describe("parseChannelConfig", () => {
  test("email: defaults for security, port and verification; `to` as a comma-separated string", () => {
    expect(parseChannelConfig("email", { host: "SMTP.Example.com.", from: "a@example.com", to: "b@example.com, c@example.com" })).toEqual({
      ok: true,
      config: {
        host: "smtp.example.com",
        port: 587,
        security: "starttls",
        username: null,
        password: null,
        from: "a@example.com",
        to: ["b@example.com", "c@example.com"],
        verifyCertificate: true,
      },
    });
    const tls = parseChannelConfig("email", { host: "10.0.0.5", security: "tls", from: "Ops <a@example.com>", to: ["b@example.com"] });
    expect(tls.ok && tls.config.port).toBe(465);
  });

  test("a problem names its field under config", () => {
    expect(parseChannelConfig("email", { host: "x", from: "a@example.com" })).toEqual({
      ok: false,
      field: "config.to",
      message: "is required",
    });
    expect(parseChannelConfig("slack", { webhookUrl: "ftp://x" })).toMatchObject({ ok: false, field: "config.webhookUrl" });
    expect(parseChannelConfig("slack", { webhookUrl: "https://x", extra: 1 })).toEqual({
      ok: false,
      field: "config.extra",
      message: "is not a setting of a slack channel",
    });
    expect(parseChannelConfig("ntfy", [])).toEqual({ ok: false, field: "config", message: "must be an object" });
  });

  test("telegram and ntfy: base URLs default and lose a trailing slash; a numeric chat id becomes text", () => {
    expect(parseChannelConfig("telegram", { botToken: "1:abcdefghijklmnopqrstuvwxyz", chatId: -42 })).toEqual({
      ok: true,
      config: { botToken: "1:abcdefghijklmnopqrstuvwxyz", chatId: "-42", apiBaseUrl: "https://api.telegram.org" },
    });
    expect(parseChannelConfig("ntfy", { serverUrl: "https://ntfy.example.com/", topic: "ops" })).toEqual({
      ok: true,
      config: { serverUrl: "https://ntfy.example.com", topic: "ops", token: null },
    });
  });
});

describe("secrets", () => {
  test("split into shown and secret; masked as ••••; absent secrets are not shown at all", () => {
    const { config, secret } = splitConfig("ntfy", { serverUrl: "https://ntfy.sh", topic: "ops", token: null });
    expect(config).toEqual({ serverUrl: "https://ntfy.sh", topic: "ops" });
    expect(secret).toEqual({});
    expect(maskedConfig("webhook", {}, ["url", "signingSecret"])).toEqual({ url: MASK, signingSecret: MASK });
  });

  test("an edit: given fields over the stored ones, •••• keeps the stored secret, null removes", () => {
    const stored = { config: { serverUrl: "https://ntfy.sh", topic: "ops" }, secret: { token: "tk_secret" } };
    expect(mergeConfig("ntfy", stored, { topic: "deploys", token: MASK })).toEqual({
      ok: true,
      config: { serverUrl: "https://ntfy.sh", topic: "deploys", token: "tk_secret" },
    });
    expect(mergeConfig("ntfy", stored, { token: null })).toEqual({ ok: true, config: { serverUrl: "https://ntfy.sh", topic: "ops" } });
  });

  test("•••• where nothing is stored, or in a field that is not secret, is refused", () => {
    expect(keepMasked("slack", { webhookUrl: MASK }, {})).toMatchObject({ ok: false, field: "config.webhookUrl" });
    expect(keepMasked("ntfy", { topic: MASK }, { token: "x" })).toMatchObject({ ok: false, field: "config.topic" });
  });
});
