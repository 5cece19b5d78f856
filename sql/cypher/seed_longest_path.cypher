// The longest simple path from $seed inside graph $graph, at most {{max_depth}}
// hops, walking relations either way. Ties: more evidence (integer weights, so
// sums are exact), then the smaller id sequence (ids joined with a space, which
// sorts below every character an id uses), as kisa_tasks.subgraphs.paths does.
// The graph filter sits in the pattern so the traversal never leaves the seed's
// graph (entities are shared between seed graphs; a filter on the finished
// paths would first enumerate every path through every graph). $seed is the
// node key; ids come back whole (coalesce(full_id, id), see store_io).
MATCH p = (s:Entity {id: $seed})-[:RELATED*1..{{max_depth}} {graph: $graph}]-(n:Entity)
WHERE all(x IN nodes(p) WHERE single(y IN nodes(p) WHERE y = x))
WITH p, length(p) AS hops, reduce(w = 0, r IN relationships(p) | w + r.weight) AS weight
WITH p, hops, weight, [x IN nodes(p) | coalesce(x.full_id, x.id)] AS ids
WITH ids, hops, weight, reduce(k = '', id IN ids | k + id + ' ') AS order_key
RETURN ids AS path, hops, weight
ORDER BY hops DESC, weight DESC, order_key ASC
LIMIT 1
