-- Document and mention frequency per canonical entity over one run's abstracts.
-- Tables: abstracts(pmid, ...), mentions(pmid, entity_id, ...),
--         entities(canonical_id, name, type, identifiers[]).
WITH idmap AS (
    SELECT canonical_id, unnest(identifiers) AS entity_id FROM entities
),
docs AS (
    SELECT count(DISTINCT pmid) AS n FROM abstracts
),
freq AS (
    SELECT i.canonical_id,
           count(DISTINCT m.pmid) AS doc_freq,
           count(*) AS mention_count
    FROM mentions m
    JOIN idmap i USING (entity_id)
    GROUP BY i.canonical_id
)
SELECT e.canonical_id,
       e.name,
       e.type,
       CAST(f.doc_freq AS BIGINT) AS doc_freq,
       CAST(f.mention_count AS BIGINT) AS mention_count,
       f.doc_freq::DOUBLE / d.n AS rel_freq,
       CAST(d.n AS BIGINT) AS corpus_docs
FROM freq f
JOIN entities e USING (canonical_id)
CROSS JOIN docs d
ORDER BY e.canonical_id
