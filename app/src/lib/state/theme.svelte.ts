/** Light, dark or follow the system; persisted in localStorage and applied as `.dark` on <html>. */
import { browser } from "$app/env";

export type ThemeChoice = "light" | "dark" | "system";
export type ResolvedTheme = "light" | "dark";

/** Also read by the inline script in app.html, which applies the theme before first paint. */
export const THEME_STORAGE_KEY = "switchyard.theme";
const CHOICES: readonly ThemeChoice[] = ["light", "dark", "system"];
const QUERY = "(prefers-color-scheme: dark)";

function stored(): ThemeChoice {
  if (!browser) return "system";
  try {
    const value = localStorage.getItem(THEME_STORAGE_KEY);
    return CHOICES.includes(value as ThemeChoice) ? (value as ThemeChoice) : "system";
  } catch {
    return "system";
  }
}

class Theme {
  #choice = $state<ThemeChoice>(stored());
  #systemDark = $state(browser ? window.matchMedia(QUERY).matches : false);

  get choice(): ThemeChoice {
    return this.#choice;
  }

  get resolved(): ResolvedTheme {
    if (this.#choice === "system") return this.#systemDark ? "dark" : "light";
    return this.#choice;
  }

  get isDark(): boolean {
    return this.resolved === "dark";
  }

  set(choice: ThemeChoice): void {
    this.#choice = choice;
    try {
      if (choice === "system") localStorage.removeItem(THEME_STORAGE_KEY);
      else localStorage.setItem(THEME_STORAGE_KEY, choice);
    } catch {
      // Private mode or storage disabled: the choice still holds for this tab.
    }
    this.#apply();
  }

  /** Flips between light and dark (an explicit choice, leaving "system"). */
  toggle(): void {
    this.set(this.isDark ? "light" : "dark");
  }

  /** Follows the OS setting and other tabs' choices. Returns the cleanup. */
  listen(): () => void {
    const media = window.matchMedia(QUERY);
    const onMedia = (event: MediaQueryListEvent) => {
      this.#systemDark = event.matches;
      this.#apply();
    };
    const onStorage = (event: StorageEvent) => {
      if (event.key !== THEME_STORAGE_KEY && event.key !== null) return;
      this.#choice = stored();
      this.#apply();
    };
    media.addEventListener("change", onMedia);
    window.addEventListener("storage", onStorage);
    this.#apply();
    return () => {
      media.removeEventListener("change", onMedia);
      window.removeEventListener("storage", onStorage);
    };
  }

  #apply(): void {
    if (!browser) return;
    const root = document.documentElement;
    const dark = this.isDark;
    root.classList.toggle("dark", dark);
    root.style.colorScheme = dark ? "dark" : "light";
  }
}

export const theme = new Theme();
