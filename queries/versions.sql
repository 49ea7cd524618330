-- name: versions
-- description: CloneSquad versions in use, newest first (semantic order; versions that are not vX.Y.Z, like "" or --Development--, are shown as unknown, last), with how many deployments and accounts run each.
SELECT CASE WHEN regexp_like(clonesquadversion, '^[vV]?[0-9]+\.[0-9]+(\.[0-9]+)?([-+].*)?$') THEN clonesquadversion
            WHEN clonesquadversion IS NULL THEN 'unknown (no version)'
            ELSE concat('unknown ("', clonesquadversion, '")') END AS version,
       count(*) AS deployments,
       count(DISTINCT accountid) AS accounts,
       min(installtime) AS first_installed_at,
       max(installtime) AS last_installed_at
FROM clonesquad_discovery
GROUP BY clonesquadversion
ORDER BY regexp_like(coalesce(clonesquadversion, ''), '^[vV]?[0-9]+\.[0-9]+(\.[0-9]+)?([-+].*)?$') DESC,
         try_cast(split_part(regexp_replace(clonesquadversion, '^[vV]', ''), '.', 1) AS bigint) DESC NULLS LAST,
         try_cast(split_part(clonesquadversion, '.', 2) AS bigint) DESC NULLS LAST,
         try_cast(regexp_replace(split_part(clonesquadversion, '.', 3), '[^0-9].*$', '') AS bigint) DESC NULLS LAST,
         version
