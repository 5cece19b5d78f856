// Drop every relation of one seed's graph before it is written again: a
// rebuild with another extractor or confidence floor must not keep relations
// the new build does not hold. Entities stay (other graphs share them).
MATCH ()-[r:RELATED {graph: $graph}]->()
DELETE r
RETURN count(r) AS deleted
