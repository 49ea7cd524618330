-- name: coverage-map
-- description: Deployments per organizational unit and region, with how many have a fresh export (accounts missing from the Organization snapshot count under "(not in the snapshot)").
-- param: hours int >= 0 = 26 | An export younger than this many hours is fresh.
SELECT coalesce(o.ou_path, '(not in the snapshot)') AS ou_path,
       d.region,
       count(*) AS deployments,
       sum(CASE WHEN date_diff('hour', d.metadatarecordlastupdatedat, current_timestamp) < ? THEN 1 ELSE 0 END) AS fresh
FROM clonesquad_discovery d
LEFT JOIN org_accounts o ON o.account_id = d.accountid
GROUP BY coalesce(o.ou_path, '(not in the snapshot)'), d.region
ORDER BY ou_path, d.region
