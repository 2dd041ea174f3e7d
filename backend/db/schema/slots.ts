import { sql } from "drizzle-orm";
import { integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { SLOT_STATES } from "../../contract/api.ts";
import { apps } from "./apps.ts";
import { releases } from "./releases.ts";

export { SLOT_STATES, type SlotState } from "../../contract/api.ts";

export const slots = pgTable(
  "slots",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    appId: uuid("app_id")
      .notNull()
      .references(() => apps.id, { onDelete: "cascade" }),
    color: text("color", { enum: ["blue", "green"] }).notNull(),
    port: integer("port").notNull(),
    /** Every web instance's port, the first being `port`; empty before the slot first starts with instances. */
    ports: integer("ports").array().notNull().default(sql`'{}'::integer[]`),
    releaseId: uuid("release_id").references(() => releases.id, { onDelete: "set null" }),
    state: text("state", { enum: SLOT_STATES }).notNull().default("empty"),
    startedAt: timestamp("started_at", { withTimezone: true }),
    /** The last exits of the slot's process (newest last), kept when it crash-loops. */
    exits: jsonb("exits").$type<Array<{ code: number | null; signal: string | null; at: string }>>(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("slots_app_color_idx").on(t.appId, t.color), uniqueIndex("slots_port_idx").on(t.port)],
);

export type Slot = typeof slots.$inferSelect;
