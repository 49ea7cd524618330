-- name: maintenance
-- description: SSM maintenance windows per fleet: whether it is maintenance time now, and the next window.
SELECT accountid AS account_id,
       region,
       groupname AS group_name,
       fleet,
       ismaintenancetime AS in_maintenance,
       coalesce(cardinality(maintenancewindows), 0) AS windows,
       nextmaintenancewindowdetails.matchingwindow.name AS next_window,
       nextmaintenancewindowdetails.starttime AS next_start,
       nextmaintenancewindowdetails.endtime AS next_end
FROM clonesquad_maintenance_windows
ORDER BY account_id, region, group_name, fleet
