-- name: hostnames
-- description: Inventory of managed hosts with their deployment: hostname, API Gateway URL, version, account, region, group, subfleet.
SELECT i._hostname AS hostname,
       i.instanceid AS instance_id,
       i.state.name AS state,
       d.interactapigwurl AS api_url,
       d.clonesquadversion AS version,
       i.accountid AS account_id,
       i.region,
       i.groupname AS group_name,
       i._subfleetname AS subfleet
FROM clonesquad_instances i
LEFT JOIN clonesquad_discovery d
  ON d.accountid = i.accountid AND d.region = i.region AND d.groupname = i.groupname
ORDER BY hostname NULLS LAST, account_id, region, group_name, instance_id
