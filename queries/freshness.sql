-- name: freshness
-- description: How old the deployments' last metadata exports are, as a histogram (exports run hourly by default); every age band is listed, empty ones with 0.
WITH ages AS (
  SELECT CASE
           WHEN metadatarecordlastupdatedat IS NULL THEN 7
           WHEN date_diff('minute', metadatarecordlastupdatedat, current_timestamp) < 0 THEN 0
           WHEN date_diff('minute', metadatarecordlastupdatedat, current_timestamp) < 60 THEN 1
           WHEN date_diff('hour', metadatarecordlastupdatedat, current_timestamp) < 6 THEN 2
           WHEN date_diff('hour', metadatarecordlastupdatedat, current_timestamp) < 24 THEN 3
           WHEN date_diff('day', metadatarecordlastupdatedat, current_timestamp) < 7 THEN 4
           WHEN date_diff('day', metadatarecordlastupdatedat, current_timestamp) < 30 THEN 5
           ELSE 6
         END AS band
  FROM clonesquad_discovery
)
SELECT b.band,
       b.age,
       count(a.band) AS deployments
FROM (VALUES (0, 'in the future'), (1, 'under 1h'), (2, '1h to 6h'), (3, '6h to 24h'),
             (4, '1d to 7d'), (5, '7d to 30d'), (6, 'over 30d'), (7, 'unknown')) AS b (band, age)
LEFT JOIN ages a ON a.band = b.band
GROUP BY b.band, b.age
ORDER BY b.band
