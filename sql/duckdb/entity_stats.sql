-- Frequency per canonical entity: in the run's specialty sample (doc_freq,
-- mention_count) and over the whole ingested corpus (corpus_doc_freq,
-- rel_freq), the reference for rarity.
-- Tables: abstracts, mentions (the specialty), corpus_abstracts,
--         corpus_mentions (every usable abstract), entities.
WITH idmap AS (
    SELECT canonical_id, unnest(identifiers) AS entity_id FROM entities
),
docs AS (
    SELECT count(DISTINCT pmid) AS n FROM corpus_abstracts
),
local_freq AS (
    SELECT i.canonical_id,
           count(DISTINCT m.pmid) AS doc_freq,
           count(*) AS mention_count
    FROM mentions m
    JOIN idmap i USING (entity_id)
    GROUP BY i.canonical_id
),
corpus_freq AS (
    SELECT i.canonical_id, count(DISTINCT m.pmid) AS corpus_doc_freq
    FROM corpus_mentions m
    JOIN idmap i USING (entity_id)
    GROUP BY i.canonical_id
),
joined AS (
    SELECT e.canonical_id,
           e.name,
           e.type,
           l.doc_freq,
           l.mention_count,
           -- The sample is part of the corpus: never count fewer there.
           greatest(coalesce(c.corpus_doc_freq, 0), l.doc_freq) AS corpus_doc_freq,
           d.n AS corpus_docs
    FROM local_freq l
    JOIN entities e USING (canonical_id)
    LEFT JOIN corpus_freq c USING (canonical_id)
    CROSS JOIN docs d
)
SELECT canonical_id,
       name,
       type,
       CAST(doc_freq AS BIGINT) AS doc_freq,
       CAST(mention_count AS BIGINT) AS mention_count,
       CAST(corpus_doc_freq AS BIGINT) AS corpus_doc_freq,
       corpus_doc_freq::DOUBLE / greatest(corpus_docs, 1) AS rel_freq,
       CAST(corpus_docs AS BIGINT) AS corpus_docs
FROM joined
ORDER BY canonical_id
