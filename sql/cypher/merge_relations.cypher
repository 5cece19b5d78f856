// Upsert typed relations between existing entities, keeping their evidence.
UNWIND $rows AS row
MATCH (h:Entity {id: row.head})
MATCH (t:Entity {id: row.tail})
MERGE (h)-[r:RELATED {type: row.type}]->(t)
SET r.pmids = row.pmids
RETURN count(r) AS merged
