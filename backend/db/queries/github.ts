import { eq } from "drizzle-orm";
import type { GitHubUser } from "../../adapters/github.ts";
import { decryptSecret, encryptSecret } from "../../domain/vault.ts";
import type { Db } from "../client.ts";
import { type App, apps, type GithubAccount, githubAccounts, settings } from "../schema/index.ts";

const tokenAad = (userId: string) => `github-token:${userId}`;
const hookAad = (appId: string) => `webhook-secret:${appId}`;

export async function accountForUser(db: Db, userId: string): Promise<GithubAccount | null> {
  const [row] = await db.select().from(githubAccounts).where(eq(githubAccounts.userId, userId));
  return row ?? null;
}

export async function accountByGithubId(db: Db, githubId: number): Promise<GithubAccount | null> {
  const [row] = await db.select().from(githubAccounts).where(eq(githubAccounts.githubId, githubId));
  return row ?? null;
}

export async function accountById(db: Db, id: string): Promise<GithubAccount | null> {
  const [row] = await db.select().from(githubAccounts).where(eq(githubAccounts.id, id));
  return row ?? null;
}

export function accountToken(key: Buffer, account: GithubAccount): string {
  return decryptSecret(key, account.accessToken, tokenAad(account.userId));
}

/** Links (or re-links) a GitHub identity to a user, storing a fresh token. */
export async function saveAccount(
  db: Db,
  key: Buffer,
  userId: string,
  user: GitHubUser,
  token: string,
  scopes: string,
): Promise<GithubAccount> {
  const values = {
    userId,
    githubId: user.id,
    login: user.login,
    name: user.name,
    avatarUrl: user.avatarUrl,
    accessToken: encryptSecret(key, token, tokenAad(userId)),
    scopes,
    tokenStatus: "ok" as const,
    updatedAt: new Date(),
  };
  const [row] = await db
    .insert(githubAccounts)
    .values(values)
    .onConflictDoUpdate({ target: githubAccounts.userId, set: values })
    .returning();
  if (!row) throw new Error("github account upsert returned nothing");
  return row;
}

export async function markTokenRevoked(db: Db, accountId: string): Promise<void> {
  await db.update(githubAccounts).set({ tokenStatus: "revoked", updatedAt: new Date() }).where(eq(githubAccounts.id, accountId));
}

export function encryptHookSecret(key: Buffer, appId: string, secret: string): string {
  return encryptSecret(key, secret, hookAad(appId));
}

export function hookSecret(key: Buffer, app: App): string | null {
  return app.webhookSecret ? decryptSecret(key, app.webhookSecret, hookAad(app.id)) : null;
}

export async function appsForRepo(db: Db, fullName: string): Promise<App[]> {
  return db.select().from(apps).where(eq(apps.githubRepo, fullName));
}

const SIGNUP_KEY = "github.allowSignup";

export async function githubSignupAllowed(db: Db): Promise<boolean> {
  const [row] = await db.select().from(settings).where(eq(settings.key, SIGNUP_KEY));
  return row?.value === true;
}

export async function setGithubSignupAllowed(db: Db, allowed: boolean): Promise<void> {
  await db
    .insert(settings)
    .values({ key: SIGNUP_KEY, value: allowed })
    .onConflictDoUpdate({ target: settings.key, set: { value: allowed, updatedAt: new Date() } });
}

export async function deleteAccount(db: Db, accountId: string): Promise<void> {
  await db.delete(githubAccounts).where(eq(githubAccounts.id, accountId));
}

/** Stores the app's webhook (its id and encrypted secret), or forgets the id (the secret stays). */
export async function setAppHook(db: Db, appId: string, hook: { id: number; secretEncrypted: string } | null): Promise<App | null> {
  const [row] = await db
    .update(apps)
    .set(
      hook
        ? { githubHookId: hook.id, webhookSecret: hook.secretEncrypted, updatedAt: new Date() }
        : { githubHookId: null, updatedAt: new Date() },
    )
    .where(eq(apps.id, appId))
    .returning();
  return row ?? null;
}

/** The token that clones an app's repository and manages its hook; null when it has none (or it was revoked). */
export async function appGitHubToken(
  services: { db: Db; masterKey: Buffer },
  app: App,
): Promise<{ token: string; accountId: string } | null> {
  if (!app.githubAccountId || !app.githubRepo) return null;
  const account = await accountById(services.db, app.githubAccountId);
  if (account?.tokenStatus !== "ok") return null;
  return { token: accountToken(services.masterKey, account), accountId: account.id };
}
