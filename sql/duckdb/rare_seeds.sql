-- Rare entities with enough evidence to build a graph from, rarest first.
-- Parameters: $min_evidence, $max_doc_freq, $max_rel_freq, $limit.
SELECT canonical_id, name, type, doc_freq, mention_count, rel_freq, corpus_docs
FROM stats
WHERE type IN ('disease', 'drug', 'chemical')
  AND doc_freq >= $min_evidence
  AND doc_freq <= $max_doc_freq
  -- In a small sample the relative bound alone could exclude everything that
  -- has the minimum evidence; an entity at the minimum is always rare enough.
  AND (rel_freq <= $max_rel_freq OR doc_freq <= $min_evidence)
ORDER BY doc_freq, mention_count DESC, canonical_id
LIMIT $limit
