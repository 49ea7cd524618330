-- name: coverage
-- description: Per organizational unit (from the Organization snapshot): active accounts, those running CloneSquad, those with a fresh export, and those without any deployment.
-- param: hours int >= 0 = 26 | An export younger than this many hours is fresh.
WITH per_account AS (
  SELECT accountid,
         count(*) AS deployments,
         sum(CASE WHEN date_diff('hour', metadatarecordlastupdatedat, current_timestamp) < ? THEN 1 ELSE 0 END) AS fresh
  FROM clonesquad_discovery
  GROUP BY accountid
)
SELECT o.ou_path,
       count(*) AS accounts,
       sum(CASE WHEN p.deployments > 0 THEN 1 ELSE 0 END) AS with_deployment,
       sum(CASE WHEN p.fresh > 0 THEN 1 ELSE 0 END) AS with_fresh_export,
       sum(CASE WHEN p.deployments IS NULL THEN 1 ELSE 0 END) AS without_deployment,
       coalesce(sum(p.deployments), 0) AS deployments
FROM org_accounts o
LEFT JOIN per_account p ON p.accountid = o.account_id
WHERE o.status = 'ACTIVE'
GROUP BY o.ou_path
ORDER BY o.ou_path
