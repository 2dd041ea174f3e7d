import type { EnvVarValue } from "../../db/queries/env.ts";
import type { App, Environment, Release } from "../../db/schema/index.ts";
import type { DetectResult } from "../../domain/detect.ts";
import type { AppPaths } from "../paths.ts";
import type { GoLive } from "../targets/types.ts";

/** What a deploy's steps hand each other. */
export interface DeployState {
  app: App;
  environment: Environment;
  vars: EnvVarValue[];
  paths: AppPaths;
  buildId: string;
  buildDir: string;
  commit?: { sha: string; author: string; message: string };
  detected?: DetectResult;
  release?: Release;
  /** Set by the release step: where and how the new release goes live. */
  golive?: GoLive;
}

/** The environment build commands see: the app's variables plus what tooling needs. */
export function buildEnv(state: DeployState): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of state.vars) env[v.key] = v.value;
  return {
    ...env,
    PATH: `${state.buildDir}/node_modules/.bin:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    HOME: process.env.HOME ?? "/tmp",
    CI: "1",
    BUN_INSTALL_CACHE_DIR: state.paths.bunCache,
    npm_config_cache: `${state.paths.bunCache}/../npm`,
    NO_COLOR: env.NO_COLOR ?? "",
    FORCE_COLOR: env.FORCE_COLOR ?? "1",
  };
}
