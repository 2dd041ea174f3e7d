import { describe, expect, test } from "bun:test";
import {
  discordPayload,
  emailContent,
  headerText,
  ntfyRequest,
  slackPayload,
  tailLines,
  telegramBody,
  telegramText,
  webhookRequest,
  webhookSignature,
} from "../../backend/adapters/notify/format.ts";
import type { NotificationMessage } from "../../backend/contract/api.ts";

/** A failed deploy, with the characters each format must escape in its text, facts and log lines. */
function message(overrides: Partial<NotificationMessage> = {}): NotificationMessage {
  return {
    event: "deploy.failed",
    severity: "critical",
    title: "Deploy of shop failed at build",
    text: "Release #12 of shop failed at step build: <exit 1> & nothing switched.",
    app: "shop",
    release: { id: "r1", number: 12, commitSha: "abc1234def5678" },
    fields: [
      { label: "Step", value: "build" },
      { label: "Exit code", value: "1" },
    ],
    lines: ["$ bun run build", "error: Cannot find module './x' <b>", "exit 1"],
    url: "https://panel.example.com/apps/shop?tab=deploys&job=7",
    at: "2024-05-01T12:00:00.000Z",
    ...overrides,
  };
}

describe("Slack", () => {
  test("incoming-webhook JSON: a fallback text and blocks (header, text, facts, log lines, context, button)", () => {
    expect(slackPayload(message())).toEqual({
      text: "🚨 Deploy of shop failed at build",
      blocks: [
        { type: "header", text: { type: "plain_text", text: "🚨 Deploy of shop failed at build", emoji: true } },
        {
          type: "section",
          text: { type: "mrkdwn", text: "Release #12 of shop failed at step build: &lt;exit 1&gt; &amp; nothing switched." },
        },
        {
          type: "section",
          fields: [
            { type: "mrkdwn", text: "*App*\nshop" },
            { type: "mrkdwn", text: "*Release*\n#12 (abc1234)" },
            { type: "mrkdwn", text: "*Step*\nbuild" },
            { type: "mrkdwn", text: "*Exit code*\n1" },
          ],
        },
        {
          type: "section",
          text: { type: "mrkdwn", text: "```$ bun run build\nerror: Cannot find module './x' &lt;b&gt;\nexit 1```" },
        },
        {
          type: "context",
          elements: [
            { type: "mrkdwn", text: "Switchyard · deploy.failed · <!date^1714564800^{date_short_pretty} {time}|2024-05-01T12:00:00.000Z>" },
          ],
        },
        {
          type: "actions",
          elements: [
            {
              type: "button",
              text: { type: "plain_text", text: "Open in Switchyard" },
              url: "https://panel.example.com/apps/shop?tab=deploys&job=7",
            },
          ],
        },
      ],
    });
  });

  test("no link, no lines, no facts: only what there is; a section holds at most 10 fields", () => {
    const fields = Array.from({ length: 12 }, (_, i) => ({ label: `f${i}`, value: String(i) }));
    const blocks = slackPayload(message({ url: null, lines: [], app: null, release: null, fields })).blocks as Array<{
      type: string;
      fields?: unknown[];
    }>;
    expect(blocks.map((b) => b.type)).toEqual(["header", "section", "section", "section", "context"]);
    expect(blocks[2]?.fields).toHaveLength(10);
    expect(blocks[3]?.fields).toHaveLength(2);
  });

  test("a log line with ``` cannot close the code block early", () => {
    const blocks = slackPayload(message({ lines: ["a ``` b"] })).blocks as Array<{ text?: { text: string } }>;
    const code = blocks.find((b) => b.text?.text.startsWith("```"))?.text?.text ?? "";
    expect(code.slice(3, -3)).not.toContain("```");
  });
});

describe("Discord", () => {
  test("one embed: title, escaped description with the log in a code block, facts inline, colour by severity; no pings", () => {
    expect(discordPayload(message({ text: "a *bold* @everyone _claim_" }))).toEqual({
      username: "Switchyard",
      allowed_mentions: { parse: [] },
      embeds: [
        {
          title: "🚨 Deploy of shop failed at build",
          description: "a \\*bold\\* @everyone \\_claim\\_\n```\n$ bun run build\nerror: Cannot find module './x' <b>\nexit 1\n```",
          url: "https://panel.example.com/apps/shop?tab=deploys&job=7",
          color: 0xef4444,
          fields: [
            { name: "App", value: "shop", inline: true },
            { name: "Release", value: "#12 (abc1234)", inline: true },
            { name: "Step", value: "build", inline: true },
            { name: "Exit code", value: "1", inline: true },
          ],
          timestamp: "2024-05-01T12:00:00.000Z",
          footer: { text: "Switchyard · deploy.failed" },
        },
      ],
    });
  });

  test("stays within Discord's limits: title 256, description 4096, 25 fields", () => {
    const embed = discordPayload(
      message({
        title: "t".repeat(400),
        text: "x".repeat(5000),
        lines: Array.from({ length: 500 }, (_, i) => `line ${i} ${"y".repeat(40)}`),
        fields: Array.from({ length: 40 }, (_, i) => ({ label: `f${i}`, value: "v".repeat(2000) })),
      }),
    ).embeds[0] as { title: string; description: string; fields: Array<{ value: string }> };
    expect(embed.title.length).toBeLessThanOrEqual(256);
    expect(embed.description.length).toBeLessThanOrEqual(4096);
    expect(embed.description).toContain("line 499");
    expect(embed.fields).toHaveLength(25);
    expect(embed.fields.every((f) => f.value.length <= 1024)).toBe(true);
  });
});

describe("Telegram", () => {
  test("HTML parse mode: bold title, escaped text and facts, the log in <pre>, a link", () => {
    expect(telegramText(message({ url: 'https://panel.example.com/apps/shop?a="x"&b=<y>' }))).toBe(
      [
        "<b>🚨 Deploy of shop failed at build</b>",
        "Release #12 of shop failed at step build: &lt;exit 1&gt; &amp; nothing switched.",
        "<b>App:</b> shop\n<b>Release:</b> #12 (abc1234)\n<b>Step:</b> build\n<b>Exit code:</b> 1",
        "<pre>$ bun run build\nerror: Cannot find module './x' &lt;b&gt;\nexit 1</pre>",
        '<a href="https://panel.example.com/apps/shop?a=&quot;x&quot;&amp;b=&lt;y&gt;">Open in Switchyard</a>',
      ].join("\n\n"),
    );
  });

  test("sendMessage body: chat id, text, parse_mode HTML, no link preview", () => {
    expect(telegramBody("-1001234567890", message({ lines: [], fields: [], app: null, release: null, url: null, text: "" }))).toEqual({
      chat_id: "-1001234567890",
      text: "<b>🚨 Deploy of shop failed at build</b>",
      parse_mode: "HTML",
      link_preview_options: { is_disabled: true },
    });
  });

  test("a long log keeps its last lines within 4096 characters and says how many were left out", () => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} <${"z".repeat(20)}>`);
    const text = telegramText(message({ lines }));
    expect(text.length).toBeLessThanOrEqual(4096);
    expect(text).toContain("line 399 &lt;");
    expect(text).toMatch(/<pre>… \d+ earlier lines\n/);
    expect(text).not.toContain("line 0 ");
    expect(text.endsWith('">Open in Switchyard</a>')).toBe(true);
  });
});

describe("ntfy", () => {
  test("headers Title, Priority, Tags, Click; the body in plain text", () => {
    expect(ntfyRequest(message())).toEqual({
      headers: {
        Title: "Deploy of shop failed at build",
        Priority: "urgent",
        Tags: "rotating_light,deploy.failed,shop",
        Click: "https://panel.example.com/apps/shop?tab=deploys&job=7",
      },
      body: [
        "Release #12 of shop failed at step build: <exit 1> & nothing switched.",
        "App: shop\nRelease: #12 (abc1234)\nStep: build\nExit code: 1",
        "$ bun run build\nerror: Cannot find module './x' <b>\nexit 1",
      ].join("\n\n"),
    });
  });

  test("priority by severity; no Click without a link", () => {
    expect(ntfyRequest(message({ severity: "warning", url: null })).headers).toEqual({
      Title: "Deploy of shop failed at build",
      Priority: "high",
      Tags: "warning,deploy.failed,shop",
    });
    expect(ntfyRequest(message({ severity: "success", app: null })).headers.Tags).toBe("white_check_mark,deploy.failed");
  });

  test("a title that is not ASCII is RFC 2047 encoded; line breaks never reach a header", () => {
    expect(headerText("Déploiement réussi")).toBe(`=?UTF-8?B?${Buffer.from("Déploiement réussi").toString("base64")}?=`);
    expect(headerText("two\r\nlines")).toBe("two lines");
  });
});

describe("email", () => {
  test("subject, a plain-text part with facts, log lines and the link, and an escaped HTML part", () => {
    const { subject, text, html } = emailContent(message());
    expect(subject).toBe("[Switchyard] Deploy of shop failed at build");
    expect(text).toBe(
      [
        "Deploy of shop failed at build",
        "",
        "Release #12 of shop failed at step build: <exit 1> & nothing switched.",
        "",
        "App: shop",
        "Release: #12 (abc1234)",
        "Step: build",
        "Exit code: 1",
        "",
        "Last lines:",
        "    $ bun run build",
        "    error: Cannot find module './x' <b>",
        "    exit 1",
        "",
        "Open in Switchyard: https://panel.example.com/apps/shop?tab=deploys&job=7",
        "",
        "--",
        "Sent by Switchyard (deploy.failed) at 2024-05-01T12:00:00.000Z.",
        "",
      ].join("\n"),
    );
    expect(html).toContain("&lt;exit 1&gt; &amp; nothing switched.");
    expect(html).toContain("error: Cannot find module './x' &lt;b&gt;");
    expect(html).toContain('<a href="https://panel.example.com/apps/shop?tab=deploys&amp;job=7"');
    expect(html).not.toContain("<b>");
  });

  test("a title with a line break cannot add a header", () => {
    expect(emailContent(message({ title: "a\r\nBcc: x@example.com" })).subject).toBe("[Switchyard] a Bcc: x@example.com");
  });
});

describe("signed webhook", () => {
  test("HMAC-SHA256 of <timestamp>.<body> (checked against openssl)", () => {
    expect(webhookSignature("whsec-0123456789abcdef", 1700000000, '{"event":"test"}')).toBe(
      "sha256=b988d128e149191238e2483bda5f6b7b6b6120fd7e9e5b2833656e1b7a269bea",
    );
  });

  test("the body is the message as JSON, with the event, timestamp and signature headers", () => {
    const m = message();
    const request = webhookRequest(m, "whsec-0123456789abcdef", new Date(1700000000_500));
    expect(JSON.parse(request.body)).toEqual(m);
    expect(request.headers).toEqual({
      "Content-Type": "application/json",
      "X-Switchyard-Event": "deploy.failed",
      "X-Switchyard-Timestamp": "1700000000",
      "X-Switchyard-Signature": webhookSignature("whsec-0123456789abcdef", 1700000000, request.body),
    });
  });
});

describe("tailLines", () => {
  test("everything when it fits", () => {
    expect(tailLines(["a", "b"], 10)).toBe("a\nb");
  });
  test("the last lines, with a note of how many were left out, within the limit", () => {
    const out = tailLines(["line one", "line two", "line three", "line four", "line five"], 40);
    expect(out.length).toBeLessThanOrEqual(40);
    expect(out).toBe("… 3 earlier lines\nline four\nline five");
  });
  test("one line longer than the limit is cut", () => {
    expect(tailLines(["x".repeat(50)], 10)).toBe(`${"x".repeat(9)}…`);
  });
});
