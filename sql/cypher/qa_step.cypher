// One hop of a question's constraints, evaluated in a seed's graph: the
// entities of type $entity_type reached from any of $frontier (node keys) by a
// $relation relation, walked as the stored edge points ($outgoing) or against
// it. The uniqueness check chains these from the clues to the answer.
UNWIND $frontier AS key
MATCH (n:Entity {id: key})-[r:RELATED {graph: $graph, type: $relation}]-(m:Entity)
WHERE (startNode(r) = n) = $outgoing AND m.type = $entity_type
RETURN DISTINCT coalesce(m.full_id, m.id) AS id
ORDER BY id
