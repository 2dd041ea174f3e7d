CREATE TABLE "domains" (
	"name" text NOT NULL,
	"app_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "intent" jsonb;--> statement-breakpoint
ALTER TABLE "slots" ADD COLUMN "exits" jsonb;--> statement-breakpoint
ALTER TABLE "domains" ADD CONSTRAINT "domains_app_id_apps_id_fk" FOREIGN KEY ("app_id") REFERENCES "public"."apps"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "domains_name_idx" ON "domains" USING btree ("name");--> statement-breakpoint
CREATE INDEX "domains_app_idx" ON "domains" USING btree ("app_id");--> statement-breakpoint
UPDATE "jobs" SET "status" = 'cancelled', "finished_at" = now(), "error" = 'Cancelled: another update of Switchyard was already under way.' WHERE "id" IN (SELECT "id" FROM (SELECT "id", row_number() OVER (ORDER BY "status" = 'running' DESC, "created_at", "id") AS "n" FROM "jobs" WHERE "kind" = 'self-update' AND "status" IN ('queued', 'running')) "ranked" WHERE "n" > 1);--> statement-breakpoint
CREATE UNIQUE INDEX "jobs_one_self_update_idx" ON "jobs" USING btree ("kind") WHERE "jobs"."kind" = 'self-update' and "jobs"."status" in ('queued', 'running');--> statement-breakpoint
INSERT INTO "domains" ("name", "app_id", "created_at") SELECT DISTINCT ON ("d"."name") "d"."name", "a"."id", "a"."created_at" FROM "apps" "a", unnest("a"."domains") AS "d"("name") ORDER BY "d"."name", "a"."created_at", "a"."id";--> statement-breakpoint
UPDATE "apps" SET "domains" = ARRAY(SELECT "x" FROM unnest("apps"."domains") WITH ORDINALITY AS "u"("x", "n") WHERE EXISTS (SELECT 1 FROM "domains" WHERE "domains"."name" = "u"."x" AND "domains"."app_id" = "apps"."id") ORDER BY "n") WHERE EXISTS (SELECT 1 FROM unnest("apps"."domains") AS "u"("x") WHERE NOT EXISTS (SELECT 1 FROM "domains" WHERE "domains"."name" = "u"."x" AND "domains"."app_id" = "apps"."id"));--> statement-breakpoint
CREATE OR REPLACE FUNCTION "apps_domains_claim"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "domains" WHERE "app_id" = NEW."id" AND "name" <> ALL (NEW."domains");
  INSERT INTO "domains" ("name", "app_id")
    SELECT DISTINCT "d"."name", NEW."id" FROM unnest(NEW."domains") AS "d"("name")
    WHERE NOT EXISTS (SELECT 1 FROM "domains" WHERE "domains"."name" = "d"."name" AND "domains"."app_id" = NEW."id");
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "apps_domains_claim" AFTER INSERT OR UPDATE OF "domains" ON "apps" FOR EACH ROW EXECUTE FUNCTION "apps_domains_claim"();
