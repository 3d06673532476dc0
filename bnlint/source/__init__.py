"""The source side: training and inference scripts read with the stdlib
``ast`` -- nothing imported or executed, no torch. It answers the questions
the source rules ask (which names hold models, which mode each is in at each
point, where a model runs for inference, where training steps are) and hands
the rules a :class:`SourceContext`."""

from bnlint.source.analysis import (
    EVAL,
    EXPORTS,
    FROM_CALLER,
    FUNCTIONAL_DROPOUT,
    TRAIN,
    Export,
    Freeze,
    ModelCall,
    ModeSet,
    SourceAnalysis,
    SourceContext,
    Step,
    Unrestored,
    is_inference_name,
    keeps_batchnorm_in_eval,
    needs_flow,
    parse,
)

__all__ = [
    "EVAL", "EXPORTS", "FROM_CALLER", "FUNCTIONAL_DROPOUT", "TRAIN", "Export", "Freeze",
    "ModelCall", "ModeSet", "SourceAnalysis", "SourceContext", "Step", "Unrestored",
    "is_inference_name", "keeps_batchnorm_in_eval", "needs_flow", "parse",
]
