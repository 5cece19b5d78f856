// Names of the given entities by node key (store_io.node_key), in the order of $ids.
UNWIND range(0, size($ids) - 1) AS i
MATCH (e:Entity {id: $ids[i]})
RETURN i, coalesce(e.full_id, e.id) AS id, e.name AS name
ORDER BY i
