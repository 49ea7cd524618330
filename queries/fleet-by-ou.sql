-- name: fleet-by-ou
-- description: Per organizational unit: CloneSquad deployments, managed instances and running instances (accounts missing from the Organization snapshot count under "(not in the snapshot)").
WITH fleet AS (
  SELECT accountid, region, groupname,
         count(*) AS instances,
         sum(CASE WHEN state.name = 'running' THEN 1 ELSE 0 END) AS running
  FROM clonesquad_instances
  GROUP BY accountid, region, groupname
)
SELECT coalesce(o.ou_path, '(not in the snapshot)') AS ou_path,
       count(DISTINCT d.accountid) AS accounts,
       count(*) AS deployments,
       coalesce(sum(f.instances), 0) AS instances,
       coalesce(sum(f.running), 0) AS running
FROM clonesquad_discovery d
LEFT JOIN org_accounts o ON o.account_id = d.accountid
LEFT JOIN fleet f
  ON f.accountid = d.accountid AND f.region = d.region AND f.groupname = d.groupname
GROUP BY coalesce(o.ou_path, '(not in the snapshot)')
ORDER BY ou_path
