// Neo4j 5: uniqueness constraint, which also backs MERGE with an index.
CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE
