// FalkorDB: exact-match index on entity ids (MERGE looks them up).
CREATE INDEX FOR (e:Entity) ON (e.id)
