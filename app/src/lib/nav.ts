import type { Crumb } from "#lib/components/Breadcrumbs.svelte";

const LABELS: Record<string, string> = {
  apps: "Apps",
  new: "New app",
  settings: "Settings",
  account: "Your account",
  server: "Server",
  databases: "Databases",
  certificates: "Certificates",
  notifications: "Notifications",
  alerts: "Alerts",
  activity: "Activity",
};

/** Pages that exist at a crumb's path (others are shown as plain text). */
const LINKABLE = new Set([
  "/",
  "/server",
  "/databases",
  "/certificates",
  "/alerts",
  "/activity",
  "/settings",
  "/settings/notifications",
  "/account",
  "/apps/new",
]);

/** Breadcrumbs from a pathname: "/apps/web" → Dashboard › Apps › web. */
export function crumbsFor(pathname: string): Crumb[] {
  const crumbs: Crumb[] = [{ label: "Dashboard", href: "/" }];
  const parts = pathname.split("/").filter(Boolean);
  let href = "";
  parts.forEach((part, i) => {
    href += `/${part}`;
    let label = LABELS[part];
    const named = (parts[0] === "apps" && part !== "new") || parts[0] === "databases";
    if (!label || (named && i === 1)) {
      try {
        label = decodeURIComponent(part);
      } catch {
        label = part;
      }
    }
    const isItem = (parts[0] === "apps" || parts[0] === "databases") && i === 1;
    crumbs.push({ label, ...(LINKABLE.has(href) || isItem ? { href } : {}) });
  });
  return crumbs;
}
