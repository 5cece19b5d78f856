// Upsert the relations of one seed's graph in one batch. Entities are shared
// across seed graphs; a relation belongs to one graph ($rows[].graph), so
// (graph, head, type, tail) is its key and a rebuild is a no-op.
UNWIND $rows AS row
MERGE (h:Entity {id: row.head})
ON CREATE SET h.name = row.head_name, h.type = row.head_type
MERGE (t:Entity {id: row.tail})
ON CREATE SET t.name = row.tail_name, t.type = row.tail_type
MERGE (h)-[r:RELATED {graph: row.graph, type: row.type}]->(t)
SET r.pmids = row.pmids, r.weight = row.weight
RETURN count(r) AS merged
