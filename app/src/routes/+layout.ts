// A single-page app: the backend serves index.html for every panel path and the API under /api.
export const ssr = false;
export const prerender = false;
export const trailingSlash = "never";
