-- name: schedules
-- description: Every scheduler entry of every deployment (cron-driven configuration changes).
SELECT accountid AS account_id,
       region,
       groupname AS group_name,
       key,
       value,
       expirationtime AS expires,
       metadatarecordlastupdatedat AS updated_at
FROM clonesquad_scheduler
ORDER BY account_id, region, group_name, key
