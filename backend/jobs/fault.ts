/**
 * Fault injection for the crash-safety tests: with SWITCHYARD_FAULT=<point>, the panel kills
 * itself (SIGKILL, no clean-up) when it reaches that point, e.g. `before:switch` or `switch:routed`.
 * Unset in every real deployment; reaching a point then costs one string comparison.
 */
const FAULT = process.env.SWITCHYARD_FAULT ?? "";

export function faultPoint(point: string): void {
  if (FAULT !== "" && FAULT === point) process.kill(process.pid, "SIGKILL");
}
