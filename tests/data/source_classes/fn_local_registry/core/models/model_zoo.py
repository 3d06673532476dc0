# Tramac/awesome-semantic-segmentation-pytorch core/models/model_zoo.py: the
# builders come in by star imports, and the registry is a dict local to the
# function that picks from it.
from .fcn import *
from .psp import *
from .plain import *


def get_segmentation_model(model, **kwargs):
    models = {
        'fcn': get_fcn,
        'psp': get_psp,
    }
    return models[model](**kwargs)


def get_extended_model(model, **kwargs):
    # the same table, extended before the pick: what it holds then is not read
    models = {
        'fcn': get_fcn,
        'psp': get_psp,
    }
    models.update(extra_models())
    return models[model](**kwargs)
