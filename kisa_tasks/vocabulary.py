"""The closed value sets the platform's records use, each defined once.

The code, the trigger form and the quality suites read them from here (a
suite names one as ``{"$VALUES": "kisa_tasks.vocabulary:ENTITY_TYPES"}``),
so a new value is one edit. Specialties have their own table
(``kisa_tasks.specialties``) and relation types theirs, with each type's
argument signature (``kisa_tasks.triples.signatures``).
"""

from __future__ import annotations

from typing import Literal, get_args

# What an entity mention or a canonical entity is. Drugs and chemicals share
# a namespace for name matching; the order is the preference when a merged
# entity was seen as several types.
EntityType = Literal["disease", "drug", "chemical", "concept"]
ENTITY_TYPES: tuple[str, ...] = get_args(EntityType)

# Where in a citation a mention was found.
TEXT_FIELDS = ("title", "abstract")

# Sub-graph sampling strategies (paper section 2.1); "mixed" asks for each in
# turn and is a choice of the trigger form, never a sub-graph's strategy.
Strategy = Literal["max_chain", "augmented_chain", "community_core_path", "dual_core_bridge"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
SamplingStrategy = Literal[Strategy, "mixed"]
SAMPLING_STRATEGIES: tuple[str, ...] = (*STRATEGIES, "mixed")

# The paper's four question types (its SFT mix is over these).
QuestionType = Literal["diagnosis", "treatment", "guidelines", "rare_disease"]
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)

# Train or test, decided per seed when a QA item is made.
SPLITS = ("train", "test")

# What the trigger form's ``backend`` chooses for every stage at once; what
# each stage runs for either is declared with the stage (``kisa_tasks.pipeline``).
RunBackend = Literal["offline", "llm"]
BACKENDS: tuple[str, ...] = get_args(RunBackend)
