/**
 * The signed-in user's two-factor sign-in: its state, enrolment (key, QR code, first code), the
 * recovery codes shown once, turning it off, and the owner's panel-wide requirement.
 */
import { renderSVG } from "uqr";
import {
  ApiError,
  disableTwoFactor,
  enableTwoFactor,
  regenerateRecoveryCodes,
  securitySettings,
  setSecuritySettings,
  setupTwoFactor,
  twoFactorStatus,
} from "#lib/api/client.ts";
import type { SecuritySettings, TwoFactorProof, TwoFactorSetup, TwoFactorStatus } from "#lib/api/types.ts";
import { apps } from "./apps.svelte.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { session } from "./session.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export type TwoFactorField = "password" | "code";
export type FieldErrors = Partial<Record<TwoFactorField, string>>;

/** A wrong password or code belongs under its field; anything else is toasted. */
function fieldErrors(error: unknown): FieldErrors | null {
  if (!(error instanceof ApiError)) return null;
  if (error.code === "invalid_password") return { password: "That password is not right." };
  if (error.code === "invalid_totp") return { code: error.message };
  if (error.code === "validation_failed") {
    const fields = error.fieldErrors();
    return { ...(fields.password ? { password: fields.password } : {}), ...(fields.code ? { code: fields.code } : {}) };
  }
  if (error.status === 429) return { code: error.message };
  return null;
}

export interface Enrolment extends TwoFactorSetup {
  /** The QR code of `uri`, as SVG markup. */
  qr: string;
}

export class TwoFactor {
  readonly status = new Resource<TwoFactorStatus | null>(null, () => twoFactorStatus(), { failure: "Could not load two-factor sign-in." });
  readonly busy = new Busy<"setup" | "enable" | "disable" | "regenerate">();
  #enrolment = $state<Enrolment | null>(null);
  #codes = $state.raw<string[] | null>(null);

  /** The key being set up, until confirmed or abandoned. */
  get enrolment(): Enrolment | null {
    return this.#enrolment;
  }

  /** Recovery codes just issued: shown once. */
  get recoveryCodes(): string[] | null {
    return this.#codes;
  }

  forgetCodes(): void {
    this.#codes = null;
  }

  cancelEnrolment(): void {
    this.#enrolment = null;
  }

  /** Each returns the errors for the form's fields (empty when it worked); other failures are toasted. */
  async setup(password: string): Promise<FieldErrors> {
    let errors: FieldErrors = {};
    const setup = await this.busy.run(() => setupTwoFactor(password), {
      title: "Couldn't start two-factor set-up",
      key: "setup",
      onError: (error) => {
        errors = fieldErrors(error) ?? {};
        return Object.keys(errors).length > 0;
      },
    });
    if (setup) this.#enrolment = { ...setup, qr: renderSVG(setup.uri, { border: 2 }) };
    return errors;
  }

  async enable(code: string): Promise<FieldErrors> {
    let errors: FieldErrors = {};
    const enabled = await this.busy.run(() => enableTwoFactor(code), {
      title: "Couldn't turn on two-factor sign-in",
      key: "enable",
      onError: (error) => {
        errors = fieldErrors(error) ?? {};
        return Object.keys(errors).length > 0;
      },
    });
    if (enabled) {
      const { recoveryCodes, ...status } = enabled;
      this.#enrolment = null;
      this.#codes = recoveryCodes;
      this.status.value = status;
      if (session.twoFactorNeeded) {
        session.twoFactorDone();
        void apps.load();
      }
      toasts.success("Two-factor sign-in is on", "Save your recovery codes now: they are shown only once.");
    }
    return errors;
  }

  async disable(proof: TwoFactorProof): Promise<FieldErrors> {
    let errors: FieldErrors = {};
    const status = await this.busy.run(() => disableTwoFactor(proof), {
      title: "Couldn't turn off two-factor sign-in",
      key: "disable",
      onError: (error) => {
        errors = fieldErrors(error) ?? {};
        return Object.keys(errors).length > 0;
      },
    });
    if (status) {
      this.status.value = status;
      this.#codes = null;
      toasts.success("Two-factor sign-in is off", "Sign-in asks only for your password now.");
    }
    return errors;
  }

  async regenerate(proof: TwoFactorProof): Promise<FieldErrors> {
    let errors: FieldErrors = {};
    const result = await this.busy.run(() => regenerateRecoveryCodes(proof), {
      title: "Couldn't make new recovery codes",
      key: "regenerate",
      onError: (error) => {
        errors = fieldErrors(error) ?? {};
        return Object.keys(errors).length > 0;
      },
    });
    if (result) {
      const { recoveryCodes, ...status } = result;
      this.status.value = status;
      this.#codes = recoveryCodes;
    }
    return errors;
  }
}

/** The owner's switch: every user must turn on two-factor sign-in. */
export class Security {
  readonly settings = new Resource<SecuritySettings | null>(null, () => securitySettings(), {
    failure: "Could not load the security settings.",
  });
  readonly busy = new Busy();
  #refused = $state<string | null>(null);

  /** Why the last change was refused (turning it on without two-factor sign-in of one's own). */
  get refused(): string | null {
    return this.#refused;
  }

  async setRequireTwoFactor(requireTwoFactor: boolean): Promise<void> {
    this.#refused = null;
    const saved = await this.busy.run(() => setSecuritySettings({ requireTwoFactor }), {
      title: "Couldn't change the requirement",
      onError: (error) => {
        if (!(error instanceof ApiError && error.status === 400)) return false;
        this.#refused = error.message;
        return true;
      },
    });
    if (saved) {
      this.settings.value = saved;
      toasts.success(
        saved.requireTwoFactor ? "Two-factor sign-in is required" : "Two-factor sign-in is optional",
        saved.requireTwoFactor ? "Users without it can only turn it on until they do." : "Users may turn it on or off for themselves.",
      );
    }
  }
}
