-- Seeds: entities rare in the whole corpus, with enough evidence in the
-- specialty to build a graph from; rarest first.
-- Parameters: $min_evidence, $max_doc_freq, $max_rel_freq, $limit.
SELECT canonical_id, name, type, doc_freq, mention_count, corpus_doc_freq, rel_freq, corpus_docs
FROM stats
WHERE type IN ('disease', 'drug', 'chemical')
  AND doc_freq >= $min_evidence
  AND corpus_doc_freq <= $max_doc_freq
  -- In a small corpus the relative bound alone could exclude everything that
  -- has the minimum evidence; an entity at the minimum is always rare enough.
  AND (rel_freq <= $max_rel_freq OR corpus_doc_freq <= $min_evidence)
ORDER BY corpus_doc_freq, doc_freq DESC, mention_count DESC, canonical_id
LIMIT $limit
