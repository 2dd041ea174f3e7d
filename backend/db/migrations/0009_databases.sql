CREATE TABLE "backup_destinations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"config" jsonb NOT NULL,
	"secret" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "backups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"database_id" uuid,
	"database_name" text NOT NULL,
	"engine" text NOT NULL,
	"kind" text NOT NULL,
	"status" text DEFAULT 'running' NOT NULL,
	"verified" text DEFAULT 'pending' NOT NULL,
	"error" text,
	"destination_id" uuid,
	"location" text,
	"size_bytes" bigint,
	"sha256" text,
	"duration_ms" integer,
	"verify_ms" integer,
	"details" jsonb,
	"job_id" uuid,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "database_attachments" (
	"database_id" uuid NOT NULL,
	"app_id" uuid NOT NULL,
	"env_var" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "database_attachments_database_id_app_id_pk" PRIMARY KEY("database_id","app_id")
);
--> statement-breakpoint
CREATE TABLE "databases" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"engine" text NOT NULL,
	"status" text DEFAULT 'provisioning' NOT NULL,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"password" text,
	"size_bytes" bigint,
	"connections" integer,
	"polled_at" timestamp with time zone,
	"schedule_cron" text,
	"keep_count" integer DEFAULT 7 NOT NULL,
	"keep_days" integer DEFAULT 30 NOT NULL,
	"destination_id" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "release_command" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "database_id" uuid;--> statement-breakpoint
ALTER TABLE "backups" ADD CONSTRAINT "backups_database_id_databases_id_fk" FOREIGN KEY ("database_id") REFERENCES "public"."databases"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "backups" ADD CONSTRAINT "backups_destination_id_backup_destinations_id_fk" FOREIGN KEY ("destination_id") REFERENCES "public"."backup_destinations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "database_attachments" ADD CONSTRAINT "database_attachments_database_id_databases_id_fk" FOREIGN KEY ("database_id") REFERENCES "public"."databases"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "database_attachments" ADD CONSTRAINT "database_attachments_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "databases" ADD CONSTRAINT "databases_destination_id_backup_destinations_id_fk" FOREIGN KEY ("destination_id") REFERENCES "public"."backup_destinations"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "backup_destinations_name_idx" ON "backup_destinations" USING btree ("name");--> statement-breakpoint
CREATE INDEX "backups_database_idx" ON "backups" USING btree ("database_id","started_at");--> statement-breakpoint
CREATE INDEX "backups_failed_idx" ON "backups" USING btree ("status","verified") WHERE "backups"."status" = 'failed' or "backups"."verified" = 'failed';--> statement-breakpoint
CREATE UNIQUE INDEX "database_attachments_app_var_idx" ON "database_attachments" USING btree ("app_id","env_var");--> statement-breakpoint
CREATE UNIQUE INDEX "databases_name_idx" ON "databases" USING btree ("name");--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_database_id_databases_id_fk" FOREIGN KEY ("database_id") REFERENCES "public"."databases"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_one_running_per_database_idx" ON "jobs" USING btree ("database_id") WHERE "jobs"."status" = 'running' and "jobs"."database_id" is not null;