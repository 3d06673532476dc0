# Was missed: the model comes from a registry of builders assigned to a
# module-level name (torchreid.models.build_model: `return
# __model_factory[name](...)`): a new model in training mode, so the eval-less
# inference is reported (BN402; a jit.trace there by BN404 likewise).
# Real: KaiyangZhou/deep-person-reid tools/visualize_actmap.py:41, model.eval() deleted.
import torch
import torchvision

_model_factory = {"resnet50": torchvision.models.resnet50}


def build_model(name):
    return _model_factory[name]()


@torch.no_grad()
def visactmap(model, loader):
    # model.eval()   <- deleted
    for imgs in loader:
        outputs = model(imgs)


model = build_model("resnet50")
visactmap(model, [])
