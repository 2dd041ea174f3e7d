/**
 * `bun poll-until.ts URL HOST VERSION`: polls through nginx on fresh connections until the body is
 * VERSION, then prints the absolute time (ms, high resolution) it first saw it. A process of its
 * own, so the panel's work in the benchmark's process cannot delay the observation.
 */
export {};

const [url, host, version] = process.argv.slice(2) as [string, string, string];
const deadline = Date.now() + 60_000;
console.log("ready");
for (;;) {
  if (Date.now() > deadline) {
    console.error(`nginx never answered ${version}`);
    process.exit(1);
  }
  try {
    const res = await fetch(url, { headers: { host, connection: "close" }, keepalive: false });
    if ((await res.text()) === version) {
      console.log(String(performance.timeOrigin + performance.now()));
      process.exit(0);
    }
  } catch {}
}
