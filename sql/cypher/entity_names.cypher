// Names of the given entities, in the order of $ids.
UNWIND range(0, size($ids) - 1) AS i
MATCH (e:Entity {id: $ids[i]})
RETURN i, e.id AS id, e.name AS name
ORDER BY i
