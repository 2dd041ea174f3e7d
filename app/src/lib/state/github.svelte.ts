/** The GitHub connection (who is connected, sign-up through GitHub) and picking a repository from it. */
import { disconnectGithub, githubBranches, githubRepos, githubStatus, setGithubSignup } from "#lib/api/client.ts";
import type { GitHubRepo, GitHubStatus } from "#lib/api/types.ts";
import { describeError } from "#lib/errors.ts";
import { Busy, Resource } from "./resource.svelte.ts";
import { toasts } from "./toasts.svelte.ts";

export class GitHubConnection {
  readonly status = new Resource<GitHubStatus | null>(null, () => githubStatus(), { failure: "Unavailable" });
  readonly busy = new Busy<"disconnect" | "signup">();

  async disconnect(): Promise<void> {
    const done = await this.busy.run(
      async () => {
        await disconnectGithub();
        return true;
      },
      { title: "Couldn't disconnect GitHub", key: "disconnect" },
    );
    if (!done) return;
    toasts.success("GitHub disconnected", "Apps created from your repositories keep their webhooks until you change them.");
    await this.status.load();
  }

  async allowSignup(allowed: boolean): Promise<void> {
    const done = await this.busy.run(
      async () => {
        await setGithubSignup(allowed);
        return true;
      },
      {
        title: "Couldn't change the sign-up setting",
        key: "signup",
      },
    );
    const status = this.status.value;
    if (done && status) this.status.value = { ...status, allowSignup: allowed };
  }
}

/** The connected account's repositories, searched and paged, and the one picked with its branches. */
export class RepoPicker {
  readonly connection = new GitHubConnection();
  #repos = $state.raw<GitHubRepo[]>([]);
  #nextPage = $state<number | null>(null);
  #total = $state(0);
  #loading = $state(false);
  #error = $state<string | null>(null);
  #picked = $state<GitHubRepo | null>(null);
  #picking = $state<string | null>(null);
  /** The search box. */
  query = $state("");

  get status(): GitHubStatus | null {
    return this.connection.status.value;
  }

  /** Why the list cannot be shown (the status, the search or the branches failed). */
  get error(): string | null {
    return this.#error ?? (this.connection.status.error ? describeError(this.connection.status.error).description : null);
  }

  get repos(): readonly GitHubRepo[] {
    return this.#repos;
  }

  get nextPage(): number | null {
    return this.#nextPage;
  }

  get total(): number {
    return this.#total;
  }

  get loading(): boolean {
    return this.#loading;
  }

  get picked(): GitHubRepo | null {
    return this.#picked;
  }

  /** The repository whose branches are being read. */
  get picking(): string | null {
    return this.#picking;
  }

  /** Searching makes sense: connected, and nothing picked yet. */
  get searchable(): boolean {
    const status = this.status;
    return !!status?.connected && !status.reconnectNeeded && !this.#picked;
  }

  async load(page: number): Promise<void> {
    this.#loading = true;
    this.#error = null;
    try {
      const result = await githubRepos(this.query.trim(), page);
      this.#repos = page === 1 ? result.repos : [...this.#repos, ...result.repos];
      this.#nextPage = result.nextPage;
      this.#total = result.total;
    } catch (e) {
      this.#error = describeError(e).description;
    } finally {
      this.#loading = false;
    }
  }

  /** Picks a repository; its branches, or null when they could not be read. */
  async pick(repo: GitHubRepo): Promise<string[] | null> {
    this.#picking = repo.fullName;
    try {
      const { branches } = await githubBranches(repo.owner, repo.name);
      this.#picked = repo;
      return branches.map((b) => b.name);
    } catch (e) {
      this.#error = describeError(e).description;
      return null;
    } finally {
      this.#picking = null;
    }
  }

  clear(): void {
    this.#picked = null;
  }
}
