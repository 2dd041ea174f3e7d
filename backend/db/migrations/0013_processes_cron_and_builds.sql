CREATE TABLE "cron_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"app_id" uuid NOT NULL,
	"name" text NOT NULL,
	"schedule" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"command" text NOT NULL,
	"overlap" text DEFAULT 'skip' NOT NULL,
	"timeout_sec" integer DEFAULT 3600 NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "cron_jobs_timeout_check" CHECK ("cron_jobs"."timeout_sec" between 1 and 86400)
);
--> statement-breakpoint
CREATE TABLE "cron_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"cron_job_id" uuid NOT NULL,
	"app_id" uuid NOT NULL,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"release_id" uuid,
	"exit_code" integer,
	"due_at" timestamp with time zone NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"duration_ms" integer,
	"output" text,
	"message" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "processes" (
	"app_id" uuid NOT NULL,
	"type" text NOT NULL,
	"instances" integer DEFAULT 1 NOT NULL,
	"stopped" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "processes_app_id_type_pk" PRIMARY KEY("app_id","type"),
	CONSTRAINT "processes_instances_check" CHECK ("processes"."instances" between 0 and 32)
);
--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "root_dir" text;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "output_dir" text;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "spa_fallback" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "package_manager" text;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "bun_version" text;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "node_version" text;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "io_weight" integer;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "app_id" uuid;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "volume" text;--> statement-breakpoint
ALTER TABLE "slots" ADD COLUMN "ports" integer[] DEFAULT '{}'::integer[] NOT NULL;--> statement-breakpoint
ALTER TABLE "cron_jobs" ADD CONSTRAINT "cron_jobs_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cron_runs" ADD CONSTRAINT "cron_runs_cron_job_id_cron_jobs_id_fk" FOREIGN KEY ("cron_job_id") REFERENCES "public"."cron_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cron_runs" ADD CONSTRAINT "cron_runs_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "cron_runs" ADD CONSTRAINT "cron_runs_release_id_releases_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "processes" ADD CONSTRAINT "processes_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "cron_jobs_app_idx" ON "cron_jobs" USING btree ("app_id");--> statement-breakpoint
CREATE INDEX "cron_runs_job_idx" ON "cron_runs" USING btree ("cron_job_id","created_at");--> statement-breakpoint
CREATE INDEX "cron_runs_status_idx" ON "cron_runs" USING btree ("status");--> statement-breakpoint
ALTER TABLE "backups" ADD CONSTRAINT "backups_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE set null ON UPDATE no action;