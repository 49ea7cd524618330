-- name: drift
-- description: Configuration keys whose value differs across the deployments that set them.
SELECT key,
       count(DISTINCT value) AS distinct_values,
       count(*) AS deployments_setting,
       min(value) AS min_value,
       max(value) AS max_value
FROM clonesquad_configuration
GROUP BY key
HAVING count(DISTINCT value) > 1
ORDER BY distinct_values DESC, key
