/**
 * Who is signed in, and whether the server still needs its first-run setup. Loaded once per page
 * load (`load()` is shared by every guard), then kept current by sign-in/out and `refresh()`.
 */
import { ApiError, logout as apiLogout, login, me, setup, setupStatus } from "#lib/api/client.ts";
import type { LoginInput, SetupInput, User } from "#lib/api/types.ts";

export type SessionPhase = "idle" | "loading" | "ready";

const REFRESH_AFTER_MS = 60_000;

class Session {
  #user = $state<User | null>(null);
  #setupNeeded = $state(false);
  #phase = $state<SessionPhase>("idle");
  #expired = $state(false);
  #twoFactorNeeded = $state(false);
  #pending: Promise<void> | null = null;
  #checkedAt = 0;

  get user(): User | null {
    return this.#user;
  }

  get signedIn(): boolean {
    return this.#user !== null;
  }

  get setupNeeded(): boolean {
    return this.#setupNeeded;
  }

  get phase(): SessionPhase {
    return this.#phase;
  }

  get ready(): boolean {
    return this.#phase === "ready";
  }

  /** The server ended the session while the user was in the panel (not a deliberate sign-out). */
  get expired(): boolean {
    return this.#expired;
  }

  /** The owner requires two-factor sign-in and this user has not turned it on: only the account page works until they do. */
  get twoFactorNeeded(): boolean {
    return this.#twoFactorNeeded;
  }

  /** The server answered `two_factor_required`. */
  needTwoFactor(): void {
    this.#twoFactorNeeded = true;
  }

  /** Two-factor sign-in is on now. */
  twoFactorDone(): void {
    this.#twoFactorNeeded = false;
  }

  /** `GET /setup`, then `GET /auth/me` unless setup is needed. Runs once; throws ApiError on failure. */
  load(): Promise<void> {
    if (this.#phase === "ready") return Promise.resolve();
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  /** Re-reads the current user (e.g. when the tab regains focus). Returns it, or null when signed out. */
  async refresh(): Promise<User | null> {
    const user = await me();
    if (!user && this.#user) this.#expired = true;
    this.#user = user;
    this.#checkedAt = Date.now();
    return user;
  }

  /** Signs in; throws the ApiError the form shows (wrong password, a code needed, rate limited). */
  async login(input: LoginInput): Promise<User> {
    const user = await login(input);
    this.signedInAs(user);
    return user;
  }

  /** Creates the owner account on a fresh server and signs in as it; throws the ApiError the form shows. */
  async setup(input: SetupInput): Promise<User> {
    const user = await setup(input);
    this.signedInAs(user);
    return user;
  }

  /** After a successful sign-in or setup. */
  signedInAs(user: User): void {
    this.#user = user;
    this.#twoFactorNeeded = false;
    this.#setupNeeded = false;
    this.#expired = false;
    this.#phase = "ready";
    this.#checkedAt = Date.now();
  }

  /** Setup turned out to be done already (409 already_set_up). */
  setupDone(): void {
    this.#setupNeeded = false;
  }

  /** The server said the session is gone (401): forget the user; the panel guard sends them to sign in. */
  expire(): void {
    if (this.#user) this.#expired = true;
    this.#user = null;
  }

  /** Ends the session on the server, then forgets it here. */
  async logout(): Promise<void> {
    try {
      await apiLogout();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) throw error;
    }
    this.#expired = false;
    this.#twoFactorNeeded = false;
    this.#user = null;
  }

  /** Re-checks the session when the tab comes back after a while. Returns the cleanup. */
  listen(): () => void {
    const onVisible = () => {
      if (document.visibilityState !== "visible" || !this.#user) return;
      if (Date.now() - this.#checkedAt < REFRESH_AFTER_MS) return;
      this.refresh().catch(() => {
        // Offline or restarting: keep the user; the connection indicator already says so.
      });
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }

  async #fetch(): Promise<void> {
    this.#phase = "loading";
    try {
      const { needed } = await setupStatus();
      this.#setupNeeded = needed;
      this.#user = needed ? null : await me();
      this.#checkedAt = Date.now();
      this.#phase = "ready";
    } catch (error) {
      this.#phase = "idle";
      throw error;
    }
  }
}

export const session = new Session();
