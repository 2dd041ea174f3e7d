/** Request metrics as pure figures: status classes, latency buckets and sketches. */

/**
 * Upper bounds (ms) of the upstream-time histogram kept for Prometheus in `request_totals`
 * (`latency_buckets` holds one cumulative count per bound, then +Inf).
 */
export const LATENCY_BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
