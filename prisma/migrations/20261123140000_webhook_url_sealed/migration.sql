-- Webhook URLs with a query string are stored sealed; `url` keeps the form shown to people.
ALTER TABLE "notification_channels" ADD COLUMN "urlEnc" TEXT;
