# FALSE POSITIVE (BN402): `m.print_network()` -- a method that prints the layer
# table -- matches the submodule-name pattern (\w+_network, \w+_model) and is read
# as running a submodule of `m` in training mode inside a detect_*() function; the
# real inference later is preceded by m.eval() (in YOLOv4, inside do_detect()).
# Real: Tianxiaomo/pytorch-YOLOv4 demo.py:64 (detect_cv2_camera).
# A call of an attribute with no input is a method of the model, not a forward.
import torch
import torchvision


def detect_cv2_camera(weightfile):
    m = torchvision.models.resnet18()
    m.print_network()
    m.load_state_dict(torch.load(weightfile))
    m.eval()
    with torch.no_grad():
        m(torch.randn(1, 3, 224, 224))
