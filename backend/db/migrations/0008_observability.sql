CREATE TABLE "log_checkpoints" (
	"source" text PRIMARY KEY NOT NULL,
	"ino" bigint NOT NULL,
	"offset" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "request_stats" (
	"app_id" uuid NOT NULL,
	"resolution" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"slot" text NOT NULL,
	"release_id" uuid,
	"requests" integer DEFAULT 0 NOT NULL,
	"s1xx" integer DEFAULT 0 NOT NULL,
	"s2xx" integer DEFAULT 0 NOT NULL,
	"s3xx" integer DEFAULT 0 NOT NULL,
	"s4xx" integer DEFAULT 0 NOT NULL,
	"s5xx" integer DEFAULT 0 NOT NULL,
	"bytes_in" bigint DEFAULT 0 NOT NULL,
	"bytes_out" bigint DEFAULT 0 NOT NULL,
	"timed" integer DEFAULT 0 NOT NULL,
	"latency_sum_ms" double precision DEFAULT 0 NOT NULL,
	"sketch" "bytea",
	CONSTRAINT "request_stats_key" UNIQUE NULLS NOT DISTINCT("app_id","resolution","bucket","slot","release_id")
);
--> statement-breakpoint
CREATE TABLE "request_totals" (
	"app_id" uuid PRIMARY KEY NOT NULL,
	"requests" bigint DEFAULT 0 NOT NULL,
	"s1xx" bigint DEFAULT 0 NOT NULL,
	"s2xx" bigint DEFAULT 0 NOT NULL,
	"s3xx" bigint DEFAULT 0 NOT NULL,
	"s4xx" bigint DEFAULT 0 NOT NULL,
	"s5xx" bigint DEFAULT 0 NOT NULL,
	"bytes_in" bigint DEFAULT 0 NOT NULL,
	"bytes_out" bigint DEFAULT 0 NOT NULL,
	"timed" bigint DEFAULT 0 NOT NULL,
	"latency_sum_ms" double precision DEFAULT 0 NOT NULL,
	"latency_buckets" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "resource_stats" (
	"resolution" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"subject" text NOT NULL,
	"app_id" uuid,
	"slot" text,
	"samples" integer DEFAULT 0 NOT NULL,
	"values" jsonb NOT NULL,
	CONSTRAINT "resource_stats_key" UNIQUE NULLS NOT DISTINCT("resolution","bucket","subject","app_id","slot")
);
--> statement-breakpoint
CREATE TABLE "traffic_switches" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"app_id" uuid NOT NULL,
	"at" timestamp (3) with time zone NOT NULL,
	"color" text,
	"release_id" uuid,
	"kind" text NOT NULL,
	"job_id" uuid
);
--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "watch_error_rate" double precision DEFAULT 0.1 NOT NULL;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "watch_latency_factor" double precision;--> statement-breakpoint
ALTER TABLE "request_stats" ADD CONSTRAINT "request_stats_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "request_totals" ADD CONSTRAINT "request_totals_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "resource_stats" ADD CONSTRAINT "resource_stats_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "traffic_switches" ADD CONSTRAINT "traffic_switches_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "traffic_switches" ADD CONSTRAINT "traffic_switches_release_id_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "traffic_switches" ADD CONSTRAINT "traffic_switches_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "request_stats_bucket_idx" ON "request_stats" USING btree ("resolution","bucket");--> statement-breakpoint
CREATE INDEX "resource_stats_bucket_idx" ON "resource_stats" USING btree ("resolution","bucket");--> statement-breakpoint
CREATE INDEX "traffic_switches_app_idx" ON "traffic_switches" USING btree ("app_id","at");--> statement-breakpoint
INSERT INTO "traffic_switches" ("app_id", "at", "color", "release_id", "kind")
SELECT s."app_id", coalesce(r."live_at", s."updated_at"), s."color", s."release_id", 'deploy'
FROM "slots" s LEFT JOIN "releases" r ON r."id" = s."release_id"
WHERE s."state" = 'live';
