// Every relation of one seed's graph (the input of the in-memory fallback).
MATCH (h:Entity)-[r:RELATED]->(t:Entity)
WHERE r.graph = $graph
RETURN h.id AS head, r.type AS relation, t.id AS tail, r.weight AS weight
ORDER BY head, relation, tail
