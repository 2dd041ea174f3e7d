/** A shared "now" that ticks, so relative times ("2 minutes ago") stay true without a reload. */
class Clock {
  #now = $state(Date.now());
  #timer: ReturnType<typeof setInterval> | null = null;
  #users = 0;

  /** Reading this in a template or effect subscribes to the tick (every 15 s). */
  get now(): number {
    return this.#now;
  }

  /** Starts ticking while anyone listens. Returns the cleanup. */
  listen(intervalMs = 15_000): () => void {
    this.#users += 1;
    this.#now = Date.now();
    this.#timer ??= setInterval(() => (this.#now = Date.now()), intervalMs);
    return () => {
      this.#users -= 1;
      if (this.#users === 0 && this.#timer) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    };
  }
}

export const clock = new Clock();
