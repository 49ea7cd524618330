-- name: deployments
-- description: One row per deployment: account, region, group, version (unknown when not vX.Y.Z), install and last export times, fleet size.
-- narrow: account_id, region, group_name, version, age_hours, instances
WITH fleet AS (
  SELECT accountid, region, groupname,
         count(*) AS instances,
         sum(CASE WHEN state.name = 'running' THEN 1 ELSE 0 END) AS running
  FROM clonesquad_instances
  GROUP BY accountid, region, groupname
)
SELECT d.accountid AS account_id,
       d.accountname AS account_name,
       d.region,
       d.groupname AS group_name,
       CASE WHEN regexp_like(d.clonesquadversion, '^[vV]?[0-9]+\.[0-9]+(\.[0-9]+)?([-+].*)?$') THEN d.clonesquadversion
            WHEN d.clonesquadversion IS NULL THEN 'unknown (no version)'
            ELSE concat('unknown ("', d.clonesquadversion, '")') END AS version,
       d.installtime AS installed_at,
       d.metadatarecordlastupdatedat AS last_export_at,
       date_diff('hour', d.metadatarecordlastupdatedat, current_timestamp) AS age_hours,
       coalesce(cardinality(d.subfleets), 0) AS subfleets,
       coalesce(f.instances, 0) AS instances,
       coalesce(f.running, 0) AS running
FROM clonesquad_discovery d
LEFT JOIN fleet f
  ON f.accountid = d.accountid AND f.region = d.region AND f.groupname = d.groupname
ORDER BY account_id, region, group_name
