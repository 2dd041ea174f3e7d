import { describe, expect, test } from "bun:test";
import { SLOT_STATES } from "../../backend/db/schema/slots.ts";
import {
  canSlot,
  decideRepair,
  IllegalTransition,
  releaseTransition,
  SLOT_TRANSITIONS,
  slotTransition,
} from "../../backend/domain/deploy-state.ts";

describe("slot and release transitions", () => {
  test("a deploy's path: starting → live, the old live → standby", () => {
    expect(slotTransition("empty", "start")).toBe("starting");
    expect(slotTransition("starting", "promote")).toBe("live");
    expect(slotTransition("live", "demote")).toBe("standby");
    expect(slotTransition("standby", "promote")).toBe("live");
    expect(releaseTransition("ready", "promote")).toBe("live");
    expect(releaseTransition("live", "demote")).toBe("standby");
    expect(releaseTransition("standby", "retire")).toBe("retired");
    expect(releaseTransition("retired", "promote")).toBe("live");
  });

  test("illegal moves are named errors", () => {
    expect(() => slotTransition("empty", "promote")).toThrow(IllegalTransition);
    expect(() => slotTransition("stopped", "demote")).toThrow("A slot that is stopped cannot demote.");
    expect(() => slotTransition("empty", "crash")).toThrow(IllegalTransition);
    expect(() => releaseTransition("rolled_back", "promote")).toThrow("A release that is rolled_back cannot promote.");
    expect(() => releaseTransition("failed", "promote")).toThrow(IllegalTransition);
  });

  test("every state can be stopped or started again, and every move lands on a known state", () => {
    for (const state of SLOT_STATES) {
      if (state !== "empty") expect(canSlot(state, "stop")).toBe(true);
      expect(canSlot(state, "start")).toBe(true);
    }
    for (const move of Object.values(SLOT_TRANSITIONS)) expect(SLOT_STATES).toContain(move.to);
  });

  test("a crash: live and standby slots can crash; a failed one cannot", () => {
    expect(slotTransition("live", "crash")).toBe("crashed");
    expect(slotTransition("standby", "crash")).toBe("crashed");
    expect(canSlot("failed", "crash")).toBe(false);
  });
});

describe("reconciliation after a crash", () => {
  const both = { blue: true, green: true };
  test("traffic already on a running slot: that slot is live, whatever the rows said", () => {
    expect(decideRepair({ routed: "green", running: both, recordedLive: "blue", switching: { to: "green", from: "blue" } })).toEqual({
      action: "keep",
      live: "green",
    });
  });
  test("traffic on a slot that is not running moves to the running one", () => {
    expect(
      decideRepair({
        routed: "green",
        running: { blue: true, green: false },
        recordedLive: "blue",
        switching: { to: "green", from: "blue" },
      }),
    ).toEqual({ action: "route", live: "blue" });
  });
  test("nothing running: the app is down", () => {
    expect(decideRepair({ routed: "blue", running: { blue: false, green: false }, recordedLive: "blue", switching: null })).toEqual({
      action: "down",
    });
  });
});
