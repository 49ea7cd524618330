-- org_accounts: one row per account of the Organization, with the organizational unit it sits
-- in (its id and its path from the root, `Root/Workloads/Prod`) and its tags. Written by
-- `cs-cmdb org snapshot` (not by CloneSquad): locally into the cache, for Athena under
-- `--org-path` (default `<MetadataAndBackupS3Path>/cs-cmdb/org`). Join it with the CloneSquad
-- tables on `account_id = accountid`. SnapshotAt says when the snapshot was taken.
--
-- Read by Athena (engine v3) with the Hive JSON SerDe and by cs-cmdb's embedded engine with the
-- same rules; ddl/README.md gives the reasons. Times are naive UTC with whole seconds.
CREATE EXTERNAL TABLE IF NOT EXISTS org_accounts (
  `account_id` string,
  `name` string,
  `email` string,
  `status` string,
  `joined_method` string,
  `joined_at` timestamp,
  `ou_id` string,
  `ou_path` string,
  `tags` map<string, string>,
  `snapshot_at` timestamp
)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
WITH SERDEPROPERTIES (
  'timestamp.formats' = 'yyyy-MM-dd HH:mm:ss.SSSSSSZZ,yyyy-MM-dd HH:mm:ssZZ,yyyy-MM-dd HH:mm:ss.SSSSSS,yyyy-MM-dd HH:mm:ss'
)
LOCATION '${org_path}/accounts/'
