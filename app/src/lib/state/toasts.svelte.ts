/** The toast queue: short, non-blocking messages stacked in the corner (see Toaster.svelte). */

export type ToastKind = "success" | "error" | "info" | "warning";

export interface ToastAction {
  label: string;
  onClick: () => void;
}

export interface Toast {
  id: number;
  kind: ToastKind;
  title: string;
  description?: string;
  action?: ToastAction;
  /** Milliseconds before it goes away by itself; 0 keeps it until dismissed. */
  duration: number;
}

export type ToastInput = Omit<Toast, "id" | "duration"> & { duration?: number };

const DEFAULT_DURATION: Record<ToastKind, number> = { success: 4_500, info: 5_000, warning: 7_000, error: 8_000 };
const MAX_VISIBLE = 4;

interface Timer {
  handle: ReturnType<typeof setTimeout> | null;
  remaining: number;
  startedAt: number;
}

class ToastQueue {
  #items = $state<Toast[]>([]);
  #timers = new Map<number, Timer>();
  #seq = 0;
  #paused = false;

  get items(): readonly Toast[] {
    return this.#items;
  }

  show(input: ToastInput): number {
    // The same message twice in a row refreshes the one on screen instead of stacking a copy.
    const twin = this.#items.find((t) => t.kind === input.kind && t.title === input.title && t.description === input.description);
    if (twin) {
      this.#stop(twin.id);
      this.#start(twin.id, twin.duration);
      return twin.id;
    }
    const toast: Toast = { ...input, id: ++this.#seq, duration: input.duration ?? DEFAULT_DURATION[input.kind] };
    this.#items = [...this.#items, toast];
    for (const extra of this.#items.slice(0, Math.max(0, this.#items.length - MAX_VISIBLE))) this.dismiss(extra.id);
    this.#start(toast.id, toast.duration);
    return toast.id;
  }

  success(title: string, description?: string): number {
    return this.show({ kind: "success", title, ...(description ? { description } : {}) });
  }

  info(title: string, description?: string): number {
    return this.show({ kind: "info", title, ...(description ? { description } : {}) });
  }

  warning(title: string, description?: string): number {
    return this.show({ kind: "warning", title, ...(description ? { description } : {}) });
  }

  error(title: string, description?: string, action?: ToastAction): number {
    return this.show({ kind: "error", title, ...(description ? { description } : {}), ...(action ? { action } : {}) });
  }

  dismiss(id: number): void {
    this.#stop(id);
    this.#timers.delete(id);
    this.#items = this.#items.filter((t) => t.id !== id);
  }

  clear(): void {
    for (const id of [...this.#timers.keys()]) this.#stop(id);
    this.#timers.clear();
    this.#items = [];
  }

  /** Hovering or focusing a toast holds it on screen. */
  pause(id: number): void {
    const timer = this.#timers.get(id);
    if (!timer?.handle) return;
    clearTimeout(timer.handle);
    timer.handle = null;
    timer.remaining -= Date.now() - timer.startedAt;
  }

  resume(id: number): void {
    const timer = this.#timers.get(id);
    if (!timer || timer.handle || this.#paused) return;
    this.#start(id, timer.remaining);
  }

  /** Holds every timer while the tab is hidden, so nothing disappears unread. Returns the cleanup. */
  listen(): () => void {
    const onVisibility = () => {
      this.#paused = document.visibilityState === "hidden";
      for (const id of this.#timers.keys()) {
        if (this.#paused) this.pause(id);
        else this.resume(id);
      }
    };
    document.addEventListener("visibilitychange", onVisibility);
    return () => document.removeEventListener("visibilitychange", onVisibility);
  }

  #start(id: number, duration: number): void {
    if (duration <= 0) return;
    const timer: Timer = { handle: null, remaining: Math.max(1_500, duration), startedAt: Date.now() };
    this.#timers.set(id, timer);
    if (this.#paused) return;
    timer.handle = setTimeout(() => this.dismiss(id), timer.remaining);
  }

  #stop(id: number): void {
    const timer = this.#timers.get(id);
    if (timer?.handle) clearTimeout(timer.handle);
    if (timer) timer.handle = null;
  }
}

export const toasts = new ToastQueue();
