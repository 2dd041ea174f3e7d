DROP INDEX "webhook_deliveries_delivery_idx";--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_deliveries_verified_delivery_idx" ON "webhook_deliveries" USING btree ("delivery_id") WHERE "webhook_deliveries"."verified";--> statement-breakpoint
CREATE INDEX "webhook_deliveries_delivery_id_idx" ON "webhook_deliveries" USING btree ("delivery_id");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_unverified_idx" ON "webhook_deliveries" USING btree ("verified","received_at");