/** The signed-in user's API tokens: listed, created (the secret shown once) and revoked. */
import { ApiError, createToken, listTokens, revokeToken } from "#lib/api/client.ts";
import type { ApiToken, CreatedToken } from "#lib/api/types.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export class Tokens {
  readonly list = new Resource<ApiToken[]>([], () => listTokens(), { failure: "Could not load the tokens." });
  /** "create", or the id of the token being revoked. */
  readonly busy = new Busy<string>();
  #created = $state<CreatedToken | null>(null);

  /** The token just created, with its secret: shown once. */
  get created(): CreatedToken | null {
    return this.#created;
  }

  forgetCreated(): void {
    this.#created = null;
  }

  /** Creates a token; null when it worked, else the message for the name field (other failures are toasted). */
  async create(name: string, days: number | undefined): Promise<string | null> {
    let refused: string | null = null;
    const created = await this.busy.run(() => createToken(name, days), {
      title: "Couldn't create the token",
      key: "create",
      onError: (error) => {
        if (!(error instanceof ApiError && error.code === "validation_failed")) return false;
        refused = error.fieldErrors().name ?? error.message;
        return true;
      },
    });
    if (created) {
      this.#created = created;
      this.list.value = [created, ...this.list.value];
    }
    return refused;
  }

  async revoke(token: ApiToken): Promise<void> {
    const done = await this.busy.run(
      async () => {
        await revokeToken(token.id);
        return true;
      },
      { title: "Couldn't revoke the token", key: token.id },
    );
    if (!done) return;
    this.list.value = this.list.value.filter((t) => t.id !== token.id);
    toasts.success(`Token “${token.name}” revoked`, "Anything using it is refused from now on.");
  }
}
