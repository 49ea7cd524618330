-- name: instances
-- description: Every managed EC2 instance with its fleet, type, state and placement.
SELECT accountid AS account_id,
       region,
       groupname AS group_name,
       coalesce(_subfleetname, '__main__') AS fleet,
       instanceid AS instance_id,
       _hostname AS hostname,
       instancetype AS instance_type,
       state.name AS state,
       placement.availabilityzone AS availability_zone,
       privateipaddress AS private_ip,
       launchtime AS launched_at
FROM clonesquad_instances
ORDER BY account_id, region, group_name, instance_id
