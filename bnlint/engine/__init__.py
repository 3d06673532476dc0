"""The rule engine: the anatomy of a rule (:mod:`.rule`), discovery by
existence (:mod:`.registry`), running rules on an analysis' context, each
isolated from the others (:mod:`.runner`), and turning the raw findings of a
run into the reported ones: selection, de-duplication, inline suppression
and ordering (:mod:`.suppress`). Torch-free.

The engine sits below both analyses: the model side (in its child process)
and the source side each build a context and hand it to :mod:`.runner`;
rules are plain classes that read a context and never import the engine's
callers."""
