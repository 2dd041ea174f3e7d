/** The signed-in user's own password and sessions: changed, listed and signed out. */
import { ApiError, changePassword, endOtherSessions, endSession, listSessions } from "#lib/api/client.ts";
import type { AccountSession, ChangePasswordInput, ChangePasswordResult } from "#lib/api/types.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export type PasswordErrors = Partial<Record<"currentPassword" | "newPassword" | "form", string>>;

export class Account {
  readonly sessions = new Resource<AccountSession[]>([], (signal) => listSessions(signal ? { signal } : undefined), {
    failure: "Could not load your sessions.",
  });
  /** "password", "others", or the id of the session being signed out. */
  readonly busy = new Busy<string>();

  /**
   * Changes the password. Resolves with what it ended, or with the errors for the form (a wrong
   * current password, a refused new one, too many attempts); other failures are toasted.
   */
  async changePassword(input: ChangePasswordInput): Promise<{ done: ChangePasswordResult } | { errors: PasswordErrors }> {
    let errors: PasswordErrors | null = null;
    const done = await this.busy.run(() => changePassword(input), {
      title: "Couldn't change your password",
      key: "password",
      onError: (error) => {
        if (!(error instanceof ApiError)) return false;
        if (error.code === "invalid_password") errors = { currentPassword: "This is not your current password." };
        else if (error.code === "validation_failed") {
          const fields = error.fieldErrors();
          errors = { newPassword: fields.newPassword, currentPassword: fields.currentPassword };
          if (!errors.newPassword && !errors.currentPassword) errors = { form: error.message };
        } else if (error.status === 429) errors = { form: error.message };
        return errors !== null;
      },
    });
    if (!done) return { errors: errors ?? {} };
    void this.sessions.load();
    return { done };
  }

  async signOut(session: AccountSession): Promise<void> {
    const ok = await this.busy.run(
      async () => {
        await endSession(session.id);
        return true;
      },
      { title: "Couldn't sign that session out", key: session.id },
    );
    if (!ok) return;
    this.sessions.value = this.sessions.value.filter((s) => s.id !== session.id);
    toasts.success("Signed out", `${session.device} is signed out.`);
  }

  async signOutOthers(): Promise<void> {
    const count = await this.busy.run(() => endOtherSessions(), { title: "Couldn't sign out your other sessions", key: "others" });
    if (count === null) return;
    this.sessions.value = this.sessions.value.filter((s) => s.current);
    toasts.success(
      count === 0 ? "No other sessions" : `Signed out ${count} other session${count === 1 ? "" : "s"}`,
      "Only this browser is signed in now.",
    );
  }
}
