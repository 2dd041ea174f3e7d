import { expect, test } from "bun:test";
import { RateLimiter } from "../../backend/auth/rate-limit.ts";

test("blocks after the limit until the window ends, and reset clears a key", () => {
  let now = 1_000_000;
  const limiter = new RateLimiter(3, 60_000, () => now);
  for (let i = 0; i < 3; i++) {
    expect(limiter.retryAfter("a")).toBe(0);
    limiter.fail("a");
  }
  expect(limiter.retryAfter("a")).toBe(60);
  expect(limiter.retryAfter("b")).toBe(0);
  now += 30_000;
  expect(limiter.retryAfter("a")).toBe(30);
  now += 30_001;
  expect(limiter.retryAfter("a")).toBe(0);
  limiter.fail("b");
  limiter.reset("b");
  expect(limiter.retryAfter("b")).toBe(0);
});
