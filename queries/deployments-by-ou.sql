-- name: deployments-by-ou
-- description: One row per deployment with its account's name and organizational unit (from the Organization snapshot), version, last export and fleet size: the fleet report's table.
WITH fleet AS (
  SELECT accountid, region, groupname,
         count(*) AS instances,
         sum(CASE WHEN state.name = 'running' THEN 1 ELSE 0 END) AS running
  FROM clonesquad_instances
  GROUP BY accountid, region, groupname
)
SELECT d.accountid AS account_id,
       coalesce(o.name, d.accountname) AS account_name,
       o.ou_path,
       d.region,
       d.groupname AS group_name,
       CASE WHEN regexp_like(d.clonesquadversion, '^[vV]?[0-9]+\.[0-9]+(\.[0-9]+)?([-+].*)?$') THEN d.clonesquadversion
            WHEN d.clonesquadversion IS NULL THEN 'unknown (no version)'
            ELSE concat('unknown ("', d.clonesquadversion, '")') END AS version,
       d.metadatarecordlastupdatedat AS last_export_at,
       date_diff('hour', d.metadatarecordlastupdatedat, current_timestamp) AS age_hours,
       coalesce(f.instances, 0) AS instances,
       coalesce(f.running, 0) AS running
FROM clonesquad_discovery d
LEFT JOIN org_accounts o ON o.account_id = d.accountid
LEFT JOIN fleet f
  ON f.accountid = d.accountid AND f.region = d.region AND f.groupname = d.groupname
ORDER BY account_id, d.region, group_name
