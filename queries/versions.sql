-- name: versions
-- description: CloneSquad versions in use, newest first, with how many deployments and accounts run each.
SELECT clonesquadversion AS version,
       count(*) AS deployments,
       count(DISTINCT accountid) AS accounts,
       min(installtime) AS first_installed_at,
       max(installtime) AS last_installed_at
FROM clonesquad_discovery
GROUP BY clonesquadversion
ORDER BY try_cast(split_part(regexp_replace(clonesquadversion, '^v', ''), '.', 1) AS bigint) DESC NULLS LAST,
         try_cast(split_part(clonesquadversion, '.', 2) AS bigint) DESC NULLS LAST,
         try_cast(regexp_replace(split_part(clonesquadversion, '.', 3), '[^0-9].*$', '') AS bigint) DESC NULLS LAST,
         version
