/** The panel's users: listed, added, given another role, removed. */
import { ApiError, createUser, deleteUser, listUsers, updateUser } from "#lib/api/client.ts";
import type { Role, User } from "#lib/api/types.ts";
import { ROLE_LABEL } from "#lib/format.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export interface NewUser {
  name: string;
  email: string;
  password: string;
  role: Role;
}

export class Users {
  readonly list = new Resource<User[]>([], () => listUsers(), { failure: "Could not load users." });
  /** "add", "remove", or a user's id while their role changes. */
  readonly busy = new Busy<string>();

  /** Adds a user; null when it worked, else the errors by field (other failures are toasted). */
  async add(input: NewUser): Promise<Record<string, string> | null> {
    let errors: Record<string, string> = {};
    const user = await this.busy.run(() => createUser({ ...input, name: input.name.trim(), email: input.email.trim() }), {
      title: "Couldn't add the user",
      key: "add",
      onError: (error) => {
        if (error instanceof ApiError && error.code === "validation_failed") errors = error.fieldErrors();
        else if (error instanceof ApiError && error.code === "email_taken") errors = { email: error.message };
        else return false;
        return true;
      },
    });
    if (!user) return errors;
    this.list.value = [...this.list.value, user];
    toasts.success(`${user.name} added`, `They can sign in as ${user.email}.`);
    return null;
  }

  async setRole(user: User, role: Role): Promise<void> {
    const updated = await this.busy.run(() => updateUser(user.id, { role }), { title: "Couldn't change the role", key: user.id });
    // On failure, a fresh copy puts the select back to the role the user still has.
    this.list.value = updated ? this.list.value.map((u) => (u.id === user.id ? updated : u)) : [...this.list.value];
    if (updated) toasts.success(`${user.name} is now ${ROLE_LABEL[role].label.toLowerCase()}`);
  }

  /** Removes a user; true when they are gone. */
  async remove(user: User): Promise<boolean> {
    const done = await this.busy.run(
      async () => {
        await deleteUser(user.id);
        return true;
      },
      { title: "Couldn't remove the user", key: "remove" },
    );
    if (!done) return false;
    this.list.value = this.list.value.filter((u) => u.id !== user.id);
    toasts.success(`${user.name} removed`);
    return true;
  }
}
