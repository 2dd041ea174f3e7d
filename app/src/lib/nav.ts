import type { Crumb } from "#lib/components/Breadcrumbs.svelte";

const LABELS: Record<string, string> = {
  apps: "Apps",
  new: "New app",
  settings: "Settings",
  account: "Your account",
};

/** Pages that exist at a crumb's path (others are shown as plain text). */
const LINKABLE = new Set(["/", "/settings", "/account", "/apps/new"]);

/** Breadcrumbs from a pathname: "/apps/web" → Dashboard › Apps › web. */
export function crumbsFor(pathname: string): Crumb[] {
  const crumbs: Crumb[] = [{ label: "Dashboard", href: "/" }];
  const parts = pathname.split("/").filter(Boolean);
  let href = "";
  parts.forEach((part, i) => {
    href += `/${part}`;
    let label = LABELS[part];
    if (!label || (parts[0] === "apps" && i === 1 && part !== "new")) {
      try {
        label = decodeURIComponent(part);
      } catch {
        label = part;
      }
    }
    const isApp = parts[0] === "apps" && i === 1;
    crumbs.push({ label, ...(LINKABLE.has(href) || isApp ? { href } : {}) });
  });
  return crumbs;
}
