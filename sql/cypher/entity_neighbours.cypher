// Entities within {{max_depth}} hops of one entity (depth is a checked int).
MATCH (s:Entity {id: $id})-[*1..{{max_depth}}]-(n:Entity)
WHERE n.id <> $id
RETURN DISTINCT n.id AS id, n.name AS name
ORDER BY id
