import { z } from "zod";
import { validateBranch, validateRepoUrl } from "../commands/git.ts";
import { PACKAGE_MANAGERS } from "../contract/api.ts";
import { APP_NAME_PATTERN, RUNTIMES } from "../db/schema/apps.ts";
import { volumeListSchema } from "./volumes.ts";

const optionalCommand = z
  .string()
  .trim()
  .max(2000, "must be at most 2000 characters")
  .refine((v) => !/[\r\n\0]/.test(v), "must be one line")
  .nullable()
  .optional()
  .transform((v) => (v === "" ? null : v));

const gitField = (validate: (v: string) => string | null) =>
  z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      const problem = validate(v);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });

/** A DNS host name nginx may route: letters, digits and dashes in dot-separated labels, nothing else. */
export const DOMAIN_PATTERN = /^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const MAX_DOMAINS = 20;

const domainList = z
  .array(z.string({ error: "each domain must be a string" }).trim().toLowerCase())
  .max(MAX_DOMAINS, `at most ${MAX_DOMAINS} domains`)
  .superRefine((list, ctx) => {
    list.forEach((d, i) => {
      if (!DOMAIN_PATTERN.test(d)) {
        ctx.addIssue({
          code: "custom",
          path: [i],
          message: `${JSON.stringify(d)} is not a domain name like shop.example.com (letters, digits, dashes and dots only)`,
        });
      } else if (d === "localhost" || d.endsWith(".localhost")) {
        ctx.addIssue({ code: "custom", path: [i], message: `${d}: *.localhost names are given to every app automatically` });
      }
    });
  })
  .transform((list) => [...new Set(list)]);

/**
 * A directory inside the repository or the build: relative, no `..`, no `.git`, no leading dot
 * segment; `.` or "" means none (null).
 */
const relativeDir = (example: string) =>
  z
    .string()
    .trim()
    .max(200, "must be at most 200 characters")
    .transform((v) => v.replace(/^\.\/+/, "").replace(/\/+$/, ""))
    .superRefine((v, ctx) => {
      if (v === "" || v === ".") return;
      const ok = /^[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*(\/[A-Za-z0-9_@+-][A-Za-z0-9_.@+-]*)*$/.test(v);
      if (!ok || v.split("/").some((part) => part === ".." || part === ".git" || part === "node_modules"))
        ctx.addIssue({ code: "custom", message: `must be a relative path, ${example} (no .., no leading /, no .git)` });
    })
    .transform((v) => (v === "" || v === "." ? null : v))
    .nullable();

/** A runtime version as npm takes it: `1.2`, `22.11.0`, `^1.1.30`, `>=20`, `lts` is not one. */
const runtimeVersion = (example: string) =>
  z
    .string()
    .trim()
    .max(40, "must be at most 40 characters")
    .transform((v) => v.replace(/^v(?=\d)/, ""))
    .refine((v) => v === "" || /^(?:[~^]|>=|<=|>|<|=)?\d+(?:\.(?:\d+|x|\*)){0,2}(?:-[0-9A-Za-z.-]+)?$/.test(v), {
      message: `must be a version or range like ${example}`,
    })
    .transform((v) => (v === "" ? null : v))
    .nullable();

/** Settings a user may set on an app; every one of them is checked before it reaches a file or a command. */
export const appSettingsSchema = z.object({
  repoUrl: gitField(validateRepoUrl),
  branch: gitField(validateBranch),
  runtime: z.enum(RUNTIMES, { error: `must be one of ${RUNTIMES.join(", ")}, or null to detect` }).nullable(),
  installCommand: optionalCommand,
  buildCommand: optionalCommand,
  startCommand: optionalCommand,
  releaseCommand: optionalCommand,
  healthPath: z
    .string()
    .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/, "must be a path starting with / (letters, digits and URL punctuation, no spaces)")
    .max(500),
  healthTimeoutSec: z.number().int().min(1, "must be 1-3600").max(3600, "must be 1-3600"),
  buildTimeoutSec: z.number().int().min(10, "must be 10-86400").max(86400, "must be 10-86400"),
  healthIntervalMs: z.number().int().min(100, "must be 100-60000").max(60000, "must be 100-60000"),
  healthSuccesses: z.number().int().min(1, "must be 1-20").max(20, "must be 1-20"),
  drainSeconds: z.number().int().min(0, "must be 0-600").max(600, "must be 0-600"),
  watchSeconds: z.number().int().min(0, "must be 0-3600").max(3600, "must be 0-3600"),
  watchErrorRate: z.number().min(0, "must be 0-1").max(1, "must be 0-1"),
  watchLatencyFactor: z
    .number()
    .min(1.1, "must be 1.1-100, or null to not judge latency")
    .max(100, "must be 1.1-100, or null to not judge latency")
    .nullable(),
  standbyTimeoutMin: z.number().int().min(0, "must be 0-10080").max(10080, "must be 0-10080"),
  autoDeploy: z.boolean(),
  domains: domainList,
  memoryMax: z
    .string()
    .regex(/^\d+[KMGT]?$/, "must be a size like 512M or 2G")
    .nullable(),
  cpuQuota: z
    .string()
    .regex(/^\d{1,4}%$/, "must be a percentage like 50% or 200%")
    .nullable(),
  volumes: volumeListSchema,
  rootDir: relativeDir("a directory of the repository like apps/web"),
  outputDir: relativeDir("a directory like dist or build/client"),
  spaFallback: z.boolean(),
  packageManager: z.enum(PACKAGE_MANAGERS, { error: `must be one of ${PACKAGE_MANAGERS.join(", ")}, or null to detect` }).nullable(),
  bunVersion: runtimeVersion("1.2 or ^1.1.30"),
  nodeVersion: runtimeVersion("22 or >=20.10"),
  ioWeight: z.number().int().min(1, "must be 1-10000").max(10000, "must be 1-10000").nullable(),
});

export const createAppSchema = appSettingsSchema.partial().extend({
  name: z
    .string({ error: "name is required" })
    .regex(APP_NAME_PATTERN, "must be 2-40 characters: lowercase letters, digits and dashes, starting with a letter"),
  repoUrl: appSettingsSchema.shape.repoUrl,
  /** Queue the first deploy right away. */
  deploy: z.boolean().optional(),
});

export const updateAppSchema = appSettingsSchema
  .partial()
  .strict()
  .refine((v) => Object.keys(v).length > 0, "send at least one setting to change");
