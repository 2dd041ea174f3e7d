import { fileURLToPath } from "node:url";
import adapter from "@sveltejs/adapter-static";
import { sveltekit } from "@sveltejs/kit/vite";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

// SvelteKit 3 reads its configuration from the `sveltekit()` plugin; a svelte.config.js is an error.
const API_TARGET = process.env.SWITCHYARD_API ?? "http://127.0.0.1:3000";

export default defineConfig({
  plugins: [
    tailwindcss(),
    sveltekit({
      adapter: adapter({
        pages: fileURLToPath(new URL("./build", import.meta.url)),
        assets: fileURLToPath(new URL("./build", import.meta.url)),
        // A single-page app: the backend answers every non-API path with index.html.
        fallback: "index.html",
        precompress: false,
        strict: true,
      }),
      compilerOptions: { runes: true },
      // The API's shapes and event names, shared with the server (types and constants only).
      alias: { $contract: "../backend/contract" },
    }),
  ],
  server: {
    port: 5173,
    strictPort: false,
    fs: { allow: [fileURLToPath(new URL("../backend/contract", import.meta.url))] },
    proxy: {
      // Host is kept (changeOrigin: false) so the backend's same-origin check sees the dev origin.
      "/api": {
        target: API_TARGET,
        changeOrigin: false,
        // Server-sent events: never time out the long-lived stream.
        timeout: 0,
        proxyTimeout: 0,
        configure(proxy) {
          proxy.on("proxyRes", (res) => {
            if (String(res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
              res.headers["cache-control"] = "no-cache, no-transform";
              res.headers["x-accel-buffering"] = "no";
            }
          });
        },
      },
    },
  },
  preview: { port: 4173 },
  build: { target: "es2022", sourcemap: false },
});
