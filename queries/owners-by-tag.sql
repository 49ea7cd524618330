-- name: owners-by-tag
-- description: Each deployment's owner twice: from its user-supplied JSON metadata and from its account's tag (Organization snapshot), with whether they agree.
-- param: key string = 'Owner' | The user-metadata key and the account tag key.
-- bind: key, key
SELECT d.accountid AS account_id,
       d.region,
       d.groupname AS group_name,
       o.ou_path,
       json_extract_scalar(d.usersuppliedjsonmetadata, concat('$["', ?, '"]')) AS metadata_owner,
       element_at(o.tags, ?) AS account_tag_owner
FROM clonesquad_discovery d
LEFT JOIN org_accounts o ON o.account_id = d.accountid
ORDER BY account_id, region, group_name
