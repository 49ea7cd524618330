-- name: subfleets
-- description: Every subfleet of every deployment, with its configured state and its instances.
WITH fleets AS (
  SELECT d.accountid, d.region, d.groupname, s.subfleet
  FROM clonesquad_discovery d
  CROSS JOIN UNNEST(d.subfleets) AS s(subfleet)
),
members AS (
  SELECT accountid, region, groupname, _subfleetname AS subfleet,
         count(*) AS instances,
         sum(CASE WHEN state.name = 'running' THEN 1 ELSE 0 END) AS running
  FROM clonesquad_instances
  WHERE _subfleetname IS NOT NULL
  GROUP BY accountid, region, groupname, _subfleetname
)
SELECT f.accountid AS account_id,
       f.region,
       f.groupname AS group_name,
       f.subfleet,
       c.value AS configured_state,
       coalesce(m.instances, 0) AS instances,
       coalesce(m.running, 0) AS running
FROM fleets f
LEFT JOIN members m
  ON m.accountid = f.accountid AND m.region = f.region AND m.groupname = f.groupname
 AND m.subfleet = f.subfleet
LEFT JOIN clonesquad_configuration c
  ON c.accountid = f.accountid AND c.region = f.region AND c.groupname = f.groupname
 AND c.key = concat('subfleet.', f.subfleet, '.state')
ORDER BY account_id, region, group_name, subfleet
