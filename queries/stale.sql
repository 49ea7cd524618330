-- name: stale
-- description: Deployments whose last metadata export is older than a threshold (or unknown).
-- param: hours int >= 0 = 24 | Age threshold, in hours.
SELECT accountid AS account_id,
       region,
       groupname AS group_name,
       clonesquadversion AS version,
       metadatarecordlastupdatedat AS last_export_at,
       date_diff('hour', metadatarecordlastupdatedat, current_timestamp) AS age_hours
FROM clonesquad_discovery
WHERE metadatarecordlastupdatedat IS NULL
   OR date_diff('hour', metadatarecordlastupdatedat, current_timestamp) >= ?
ORDER BY age_hours DESC NULLS FIRST, account_id, region, group_name
