import type { SlotUnitOptions } from "../../backend/commands/systemd.ts";

/** One app slot as server mode would run it: the input of the systemd unit builders. */
export const SLOT_UNIT_SPEC: SlotUnitOptions & { socketPath: string } = {
  app: "shop",
  color: "blue",
  releaseId: "rel-1",
  releaseDir: "/var/lib/switchyard/apps/shop/releases/rel-1",
  command: ["/bin/sh", "-c", "exec bun server.ts"],
  envFile: "/var/lib/switchyard/apps/shop/env/blue.env",
  port: 4100,
  secrets: [],
  socketPath: "/var/lib/switchyard/sock/shop-blue.sock",
  user: "switchyard-apps",
  stateDir: "/var/lib/switchyard/apps/shop/data",
};
