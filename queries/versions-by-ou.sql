-- name: versions-by-ou
-- description: CloneSquad versions per organizational unit (versions that are not vX.Y.Z shown as unknown).
SELECT coalesce(o.ou_path, '(not in the snapshot)') AS ou_path,
       CASE WHEN regexp_like(d.clonesquadversion, '^[vV]?[0-9]+\.[0-9]+(\.[0-9]+)?([-+].*)?$') THEN d.clonesquadversion
            WHEN d.clonesquadversion IS NULL THEN 'unknown (no version)'
            ELSE concat('unknown ("', d.clonesquadversion, '")') END AS version,
       count(*) AS deployments,
       count(DISTINCT d.accountid) AS accounts
FROM clonesquad_discovery d
LEFT JOIN org_accounts o ON o.account_id = d.accountid
GROUP BY coalesce(o.ou_path, '(not in the snapshot)'), d.clonesquadversion
ORDER BY ou_path, version
