import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");

/**
 * The GUI's figures come from the browser test that measures them (tests/e2e/gui.e2e.test.ts,
 * its BENCH test): a real panel, real Chromium. Builds the GUI, runs that file, reads its BENCH lines.
 */
export async function guiBench(): Promise<string> {
  const build = Bun.spawnSync([process.execPath, "--bun", "vite", "build", "--logLevel", "warn"], {
    cwd: join(root, "app"),
    stdout: "inherit",
    stderr: "inherit",
  });
  if (build.exitCode !== 0) throw new Error("the GUI did not build");
  const proc = Bun.spawnSync([process.execPath, "test", "--timeout", "600000", "./tests/e2e/gui.e2e.test.ts"], {
    cwd: root,
    env: { ...process.env, SWITCHYARD_BCRYPT_COST: "4" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = proc.stdout.toString() + proc.stderr.toString();
  const figures = new Map<string, Record<string, number>>();
  for (const m of out.matchAll(/^BENCH (\{.*\})$/gm)) {
    const f = JSON.parse(m[1] as string) as { name: string } & Record<string, number>;
    figures.set(f.name, f);
  }
  const dash = figures.get("dashboard_50_apps");
  const log = figures.get("log_scroll_100k_lines");
  if (!dash || !log) throw new Error(`the browser test printed no figures:\n${out.slice(-2000)}`);
  return `## GUI

Measured in Debian's Chromium (headless, 1366×860) by the browser test's BENCH case against a
real panel (PGlite). Target: the dashboard of 50 apps renders in under a second; a job log of
100,000 lines stays scrollable.

| figure | value |
| --- | --- |
| dashboard with 50 apps: navigation → all 50 cards rendered | ${dash.ms_since_navigation} ms (wall ${dash.wall_ms} ms) |
| job log of ${(log.lines ?? 0).toLocaleString("en")} lines: loaded and rendered | ${log.load_ms} ms, ${log.rendered_rows} rows in the DOM (virtualised) |
| scrolling it: ${log.frames} frames over ${(log.scrolled_px ?? 0).toLocaleString("en")} px | median ${log.p50_frame_ms} ms, p95 ${log.p95_frame_ms} ms, max ${log.max_frame_ms} ms per frame |`;
}
