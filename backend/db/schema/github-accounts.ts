import { bigint, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { users } from "./users.ts";

export const TOKEN_STATUSES = ["ok", "revoked"] as const;

/** A GitHub identity linked to one user; its access token is encrypted with the master key. */
export const githubAccounts = pgTable(
  "github_accounts",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    githubId: bigint("github_id", { mode: "number" }).notNull(),
    login: text("login").notNull(),
    name: text("name"),
    avatarUrl: text("avatar_url"),
    accessToken: text("access_token").notNull(),
    scopes: text("scopes").notNull().default(""),
    tokenStatus: text("token_status", { enum: TOKEN_STATUSES }).notNull().default("ok"),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex("github_accounts_user_idx").on(t.userId), uniqueIndex("github_accounts_github_id_idx").on(t.githubId)],
);

export type GithubAccount = typeof githubAccounts.$inferSelect;
