// Upsert the relations of one seed's graph in one batch. Entities are shared
// across seed graphs; a relation belongs to one graph ($rows[].graph), so
// (graph, head, type, tail) is its key and a rebuild is a no-op. head and tail
// are node keys (store_io.node_key); *_full the whole id when a key is a digest.
UNWIND $rows AS row
MERGE (h:Entity {id: row.head})
ON CREATE SET h.name = row.head_name, h.type = row.head_type, h.full_id = row.head_full
MERGE (t:Entity {id: row.tail})
ON CREATE SET t.name = row.tail_name, t.type = row.tail_type, t.full_id = row.tail_full
MERGE (h)-[r:RELATED {graph: row.graph, type: row.type}]->(t)
SET r.pmids = row.pmids, r.weight = row.weight, r.confidence = row.confidence
RETURN count(r) AS merged
