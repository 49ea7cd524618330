-- name: owners
-- description: Deployments by a key of their user-supplied JSON metadata (NULL: the key is missing).
-- param: key string = 'Owner' | The top-level key of UserSuppliedJSONMetadata.
SELECT json_extract_scalar(usersuppliedjsonmetadata, concat('$["', ?, '"]')) AS value,
       accountid AS account_id,
       region,
       groupname AS group_name,
       clonesquadversion AS version
FROM clonesquad_discovery
ORDER BY value NULLS LAST, account_id, region, group_name
