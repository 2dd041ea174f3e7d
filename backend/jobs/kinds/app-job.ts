import type { App } from "../../db/schema/index.ts";
import { type JobContext, JobFailed } from "../orchestrator.ts";

export function requireApp(ctx: JobContext): App {
  if (!ctx.app) throw new JobFailed("The app no longer exists.");
  return ctx.app;
}
