-- name: volumes
-- description: EBS volumes of the managed instances: type, size, IOPS, encryption and attachments.
SELECT accountid AS account_id,
       region,
       groupname AS group_name,
       volumeid AS volume_id,
       volumetype AS volume_type,
       size AS size_gib,
       iops,
       throughput,
       encrypted,
       state,
       coalesce(cardinality(attachments), 0) AS attachments,
       createtime AS created_at
FROM clonesquad_volumes
ORDER BY account_id, region, group_name, volume_id
