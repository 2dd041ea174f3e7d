/** Time-axis ticks on round local times, and their labels, without a date library. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const INTERVALS = [
  MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
];

/** Ticks between min and max (ms) on round local times, at most `max` of them. */
export function timeTicks(min: number, max: number, most: number): number[] {
  const span = max - min;
  if (!(span > 0) || most < 1) return [];
  const interval = INTERVALS.find((i) => span / i <= most) ?? Math.ceil(span / most / DAY) * DAY;
  const ticks: number[] = [];
  if (interval < HOUR) {
    // Whole minutes line up with local time in every zone that matters.
    for (let t = Math.ceil(min / interval) * interval; t <= max; t += interval) ticks.push(t);
    return ticks;
  }
  // Hours and days from local midnight, so "06:00" and "Nov 28" are what they say.
  const start = new Date(min);
  start.setHours(0, 0, 0, 0);
  if (interval < DAY) {
    const hours = interval / HOUR;
    for (let d = new Date(start); d.getTime() <= max; d.setHours(d.getHours() + hours)) {
      if (d.getTime() >= min) ticks.push(d.getTime());
    }
  } else {
    const days = interval / DAY;
    for (let d = new Date(start); d.getTime() <= max; d.setDate(d.getDate() + days)) {
      if (d.getTime() >= min) ticks.push(d.getTime());
    }
  }
  return ticks;
}

const hm = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const md = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const full = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

function isMidnight(ms: number): boolean {
  const d = new Date(ms);
  return d.getHours() === 0 && d.getMinutes() === 0;
}

/** A tick's label: the time of day, or the date at midnight and on day-wide intervals. */
export function tickLabel(ms: number, interval: number): string {
  return interval >= DAY || isMidnight(ms) ? md.format(ms) : hm.format(ms);
}

/** "Nov 28, 14:05": a point in a tooltip or a list. */
export function pointLabel(ms: number): string {
  return full.format(ms);
}
