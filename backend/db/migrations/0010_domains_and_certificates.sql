CREATE TABLE "certificates" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"names" text[] NOT NULL,
	"mode" text NOT NULL,
	"provider_id" uuid,
	"state" text DEFAULT 'pending' NOT NULL,
	"issuer" text,
	"serial" text,
	"not_before" timestamp with time zone,
	"not_after" timestamp with time zone,
	"error" text,
	"certificate_pem" text,
	"key_secret" text,
	"auto_renew" boolean DEFAULT true NOT NULL,
	"issued_at" timestamp with time zone,
	"renew_attempt_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dns_providers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"summary" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"secret" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "https_redirect" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "hsts" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "canonical" text DEFAULT 'none' NOT NULL;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "verify_token" text DEFAULT replace(gen_random_uuid()::text, '-', '') NOT NULL;--> statement-breakpoint
ALTER TABLE "domains" ADD COLUMN "dns" jsonb;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "certificate_id" uuid;--> statement-breakpoint
ALTER TABLE "certificates" ADD CONSTRAINT "certificates_provider_id_dns_providers_id_fk" FOREIGN KEY ("provider_id") REFERENCES "public"."dns_providers"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "certificates_name_idx" ON "certificates" USING btree ("name");--> statement-breakpoint
CREATE UNIQUE INDEX "dns_providers_name_idx" ON "dns_providers" USING btree ("name");--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_certificate_id_certificates_id_fk" FOREIGN KEY ("certificate_id") REFERENCES "public"."certificates"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_one_running_per_certificate_idx" ON "jobs" USING btree ("certificate_id") WHERE "jobs"."status" = 'running' and "jobs"."certificate_id" is not null;