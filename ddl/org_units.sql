-- org_units: one row per organizational unit of the Organization (the root included, depth 0),
-- with its path from the root (`Root/Workloads/Prod`), its parent and how many accounts sit
-- directly in it. Written by `cs-cmdb org snapshot` beside org_accounts.
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. Times are naive UTC with whole seconds.
CREATE EXTERNAL TABLE IF NOT EXISTS org_units (
  `ou_id` string,
  `name` string,
  `path` string,
  `parent_id` string,
  `depth` bigint,
  `accounts` bigint,
  `snapshot_at` timestamp
)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${org_path}/units/'
