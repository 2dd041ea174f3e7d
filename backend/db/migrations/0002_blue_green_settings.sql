ALTER TABLE "apps" ADD COLUMN "health_interval_ms" integer DEFAULT 250 NOT NULL;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "health_successes" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "drain_seconds" integer DEFAULT 10 NOT NULL;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "watch_seconds" integer DEFAULT 60 NOT NULL;--> statement-breakpoint
ALTER TABLE "apps" ADD COLUMN "standby_timeout_min" integer DEFAULT 60 NOT NULL;