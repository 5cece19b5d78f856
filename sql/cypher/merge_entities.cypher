// Upsert entities in one batch; ids are deterministic, so reruns are no-ops.
UNWIND $rows AS row
MERGE (e:Entity {id: row.id})
SET e.name = row.name, e.type = row.type
RETURN count(e) AS merged
