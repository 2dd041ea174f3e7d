import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import { GitHubAuthError } from "../adapters/github.ts";
import { accountById, accountToken, encryptHookSecret, markTokenRevoked } from "../db/queries/github.ts";
import { type App, apps } from "../db/schema/index.ts";
import type { Services } from "../services.ts";

/**
 * Where GitHub delivers an app's pushes. The app's name rides in the query: GitHub refuses a second
 * hook with the same URL on one repository, and two apps may deploy two branches of one repository.
 */
export function webhookUrl(services: Services, app: App): string {
  const url = new URL("/api/v1/webhooks/github", services.config.publicUrl);
  url.searchParams.set("app", app.name);
  return url.toString();
}

export function splitRepo(fullName: string): { owner: string; repo: string } {
  const [owner = "", repo = ""] = fullName.split("/");
  return { owner, repo };
}

/** The token that clones an app's repository and manages its hook; null when it has none (or it was revoked). */
export async function appGitHubToken(services: Services, app: App): Promise<{ token: string; accountId: string } | null> {
  if (!app.githubAccountId) return null;
  const account = await accountById(services.db, app.githubAccountId);
  if (account?.tokenStatus !== "ok") return null;
  return { token: accountToken(services.masterKey, account), accountId: account.id };
}

/**
 * Makes the repository's webhook match the app's auto-deploy setting: created (push events, JSON,
 * a fresh random secret stored encrypted) when on, removed when off. Throws when GitHub refuses.
 */
export async function syncWebhook(services: Services, app: App, enabled: boolean): Promise<App> {
  const { github, db } = services;
  if (!github || !app.githubRepo) return app;
  const auth = await appGitHubToken(services, app);
  if (!auth) throw new GitHubAuthError("The GitHub account this app uses is disconnected or needs reconnecting.");
  const { owner, repo } = splitRepo(app.githubRepo);
  try {
    if (enabled && !app.githubHookId) {
      const secret = randomBytes(32).toString("hex");
      const hookId = await github.createHook(auth.token, owner, repo, { url: webhookUrl(services, app), secret });
      const [row] = await db
        .update(apps)
        .set({ githubHookId: hookId, webhookSecret: encryptHookSecret(services.masterKey, app.id, secret), updatedAt: new Date() })
        .where(eq(apps.id, app.id))
        .returning();
      return row ?? app;
    }
    if (!enabled && app.githubHookId) {
      await github.deleteHook(auth.token, owner, repo, app.githubHookId);
      // The secret stays, so deliveries already on their way still verify and are recorded as ignored.
      const [row] = await db.update(apps).set({ githubHookId: null, updatedAt: new Date() }).where(eq(apps.id, app.id)).returning();
      return row ?? app;
    }
    return app;
  } catch (error) {
    if (error instanceof GitHubAuthError) await markTokenRevoked(db, auth.accountId);
    throw error;
  }
}
