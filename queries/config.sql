-- name: config
-- description: The value of one configuration key in every deployment (NULL: not set, CloneSquad's default applies).
-- param: key string | The configuration key, e.g. ec2.schedule.min_instance_count.
SELECT d.accountid AS account_id,
       d.region,
       d.groupname AS group_name,
       c.value,
       c.metadatarecordlastupdatedat AS updated_at
FROM clonesquad_discovery d
LEFT JOIN clonesquad_configuration c
  ON c.accountid = d.accountid AND c.region = d.region AND c.groupname = d.groupname
 AND c.key = ?
ORDER BY account_id, region, group_name
